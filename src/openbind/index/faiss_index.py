"""faiss-backed indexes: exact `FlatIndex`, approximate `HNSWIndex` and compressed `IVFPQIndex`.

Both keep their own id mapping: faiss stores vectors at positions 0..n-1 and `labels[position]`
is the caller's id. Filters (`allow`) become a faiss bitmap selector over positions.

Filtered HNSW searches that leave at most `EXACT_FILTER_LIMIT` vectors run exactly on that
subset instead of walking the graph; larger filtered searches that come back short are retried
with a wider efSearch (up to `MAX_EF_SCALE` times).

Removal: `FlatIndex` tombstones rows (label -1, skipped by searches through a bitmap selector)
and deletes them (faiss shifts the rest down) once they pass `FLAT_MAX_TOMBSTONES`. An HNSW graph cannot drop
nodes, so `HNSWIndex` marks removed positions as tombstones (label -1) that every search skips
(a bitmap id selector); adding is incremental (new nodes are linked into the graph). Once
tombstones exceed `HNSWParams.max_tombstones` of the graph it is rebuilt from the live vectors,
which costs a fresh build: a standalone index does it inside `remove`; a `Library` switches that
off (`auto_compact`) and rebuilds in its background compaction, so an update costs in
proportion to the change.

Importing faiss through this module sets faiss's exact-search block sizes for the process
(`BLAS_QUERY_BLOCK`, `BLAS_DATABASE_BLOCK`).

On disk an index is one `.npz` file: the serialised faiss index, the labels, the kind and its
parameters (`save`, `load_index`).

HNSW reference: Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search
using Hierarchical Navigable Small World graphs", TPAMI 2018.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from openbind.errors import BadInput, VectorIndexError, require
from openbind.index.base import Neighbours, as_batch, as_ids, as_matrix

FORMAT = "openbind-index/1"
EXACT_FILTER_LIMIT = 20_000
"""An HNSW search filtered down to at most this many vectors is done exactly on that subset:
a graph walk that may only stop at a few allowed nodes can return fewer than k of them."""
MAX_EF_SCALE = 64
"""Larger filtered HNSW searches that find fewer than k allowed vectors are retried with efSearch
multiplied by 4, 16, 64."""


@dataclass(frozen=True)
class HNSWParams:
    """HNSW graph settings.

    Attributes:
        m: links per node (memory and build time grow with it; 32 is a good default).
        ef_construction: candidate list size while building (quality of the graph).
        ef_search: candidate list size while searching (recall vs speed; >= k).
        max_tombstones: fraction of removed nodes that triggers a rebuild.
    """

    m: int = 32
    ef_construction: int = 100
    ef_search: int = 64
    max_tombstones: float = 0.25

    def __post_init__(self) -> None:
        if self.m < 2 or self.ef_construction < 1 or self.ef_search < 1:
            raise BadInput(f"HNSW parameters must be positive (m >= 2), got {self}")
        if not 0.0 < self.max_tombstones <= 1.0:
            raise BadInput(f"max_tombstones must be in (0, 1], got {self.max_tombstones}")


FEW_QUERIES = 8
"""A flat search of at most this many queries is one numpy (BLAS) product, not faiss's scan."""
FLAT_MAX_TOMBSTONES = 0.25
"""Fraction of removed rows a `FlatIndex` keeps as tombstones before deleting them for real."""

BLAS_QUERY_BLOCK, BLAS_DATABASE_BLOCK = 1024, 16384
"""Block sizes of faiss's exact search (queries x vectors per matrix product; 64 MB of scores).
faiss's defaults (4096 x 1024) make many thin products that run at about half the speed of one
large product; these run at the speed of a bare matrix product (`benchmarks/index.py`)."""


@functools.cache
def _faiss() -> Any:
    faiss = require("faiss", "index")
    faiss.cvar.distance_compute_blas_query_bs = BLAS_QUERY_BLOCK
    faiss.cvar.distance_compute_blas_database_bs = BLAS_DATABASE_BLOCK
    return faiss


class _FaissIndex:
    """Shared id mapping, search and serialisation of the faiss indexes."""

    kind = ""

    def __init__(self, dim: int, index: Any, labels: np.ndarray) -> None:
        self.dim = dim
        self._index = index
        self._labels = labels  # (ntotal,) int64; -1 marks a removed position

    # -- protocol --------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = as_batch(ids, vectors, self.dim)
        clash = ids[np.isin(ids, self._labels)]
        if clash.size:
            raise BadInput(f"ids already in the index: {clash[:10].tolist()}")
        self._index.add(vectors)
        self._labels = np.concatenate([self._labels, ids])

    def search(self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None) -> Neighbours:
        queries = as_matrix(queries, self.dim, "queries")
        if k < 1:
            raise BadInput(f"k must be >= 1, got {k}")
        n = self._index.ntotal
        if n == 0 or len(queries) == 0:
            return _empty(len(queries), k)
        mask = self._live_mask()
        if allow is not None:
            allowed = np.isin(self._labels, as_ids(allow, "allow"))
            mask = allowed if mask is None else mask & allowed
        kk = min(k, n)
        approximate = self.kind != "flat"
        if allow is not None and approximate and mask.sum() <= EXACT_FILTER_LIMIT:
            return _pad(*self._exact_subset(queries, np.flatnonzero(mask), kk), k)
        scores, pos = self._search_masked(queries, kk, mask, 1)
        if mask is not None and approximate:
            # a filtered graph walk can end with fewer than k allowed nodes: widen it
            want, scale = min(kk, int(mask.sum())), 1
            while (pos >= 0).sum(axis=1).min() < want and scale < MAX_EF_SCALE:
                scale *= 4
                scores, pos = self._search_masked(queries, kk, mask, scale)
        ids = np.where(pos >= 0, self._labels[np.maximum(pos, 0)], -1)
        return _pad(ids, scores, k)

    def _search_masked(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None, ef_scale: int
    ) -> tuple[np.ndarray, np.ndarray]:
        params = self._search_params(ef_scale)
        if mask is not None:
            faiss = _faiss()
            bits = np.packbits(mask, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        scores, pos = self._index.search(queries, k, params=params)  # (Q, k)
        del params  # the selector points into `bits`; drop it before `bits` goes
        return scores, pos

    def _exact_subset(
        self, queries: np.ndarray, pos: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k among the vectors at positions `pos` (a small filtered subset)."""
        if pos.size == 0:
            return np.full((len(queries), 0), -1, np.int64), np.zeros((len(queries), 0), np.float32)
        sims = queries @ self._storage().reconstruct_batch(pos).T  # (Q, P)
        k = min(k, pos.size)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(-sims, top, axis=1).argsort(axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        return self._labels[pos[top]], np.take_along_axis(sims, top, axis=1)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        pos = self._positions(as_ids(ids))
        if len(pos) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self._storage().reconstruct_batch(pos)

    def ids(self) -> np.ndarray:
        return self._labels[self._labels >= 0].copy()

    def __len__(self) -> int:
        return int(np.count_nonzero(self._labels >= 0))

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as f:
            self.write(f)

    def write(self, f: Any) -> None:
        """Write the index to an open binary file (see `save`)."""
        blob = _faiss().serialize_index(self._index)
        np.savez(
            f,
            format=np.array(FORMAT),
            kind=np.array(self.kind),
            dim=np.array(self.dim),
            params=np.array(json.dumps(self._params_dict())),
            labels=self._labels,
            faiss=blob,
        )

    # -- internals -------------------------------------------------------------------------

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        order = np.argsort(self._labels, kind="stable")
        sorted_labels = self._labels[order]
        at = np.searchsorted(sorted_labels, ids)
        at = np.minimum(at, max(len(sorted_labels) - 1, 0))
        found = (
            (len(sorted_labels) > 0) & (sorted_labels[at] == ids) if len(ids) else np.zeros(0, bool)
        )
        if not np.all(found):
            raise BadInput(f"ids not in the index: {ids[~found][:10].tolist()}")
        return order[at]

    def _live_mask(self) -> np.ndarray | None:
        return None

    def _search_params(self, ef_scale: int) -> Any:
        return _faiss().SearchParameters()

    def _storage(self) -> Any:
        return self._index

    def _params_dict(self) -> dict[str, Any]:
        return {}


class FlatIndex(_FaissIndex):
    """Exact inner-product search (faiss `IndexFlatIP`): every query is compared to every vector.

    Deterministic and needs no tuning; the right choice up to about a million vectors on a CPU.

    Example:
        >>> index = FlatIndex(dim=4)
        >>> index.add(np.array([7, 9]), np.eye(4, dtype=np.float32)[:2])
        >>> index.search(np.eye(4, dtype=np.float32)[:1], k=1).ids
        array([[7]])
    """

    kind = "flat"

    def __init__(self, dim: int) -> None:
        super().__init__(dim, _faiss().IndexFlatIP(_check_dim(dim)), np.zeros(0, np.int64))

    def remove(self, ids: np.ndarray) -> int:
        """Tombstone the rows of `ids` (searches skip them); the rows are deleted for real, which
        moves every row after them, only once tombstones pass `FLAT_MAX_TOMBSTONES`: removing
        100 items from a million costs milliseconds instead of a 4 GB move."""
        ids = as_ids(ids)
        pos = np.flatnonzero(np.isin(self._labels, ids) & (self._labels >= 0))
        self._labels[pos] = -1
        dead = np.flatnonzero(self._labels < 0)
        if dead.size and dead.size > FLAT_MAX_TOMBSTONES * len(self._labels):
            self._index.remove_ids(_faiss().IDSelectorBatch(dead.astype(np.int64)))
            self._labels = np.delete(self._labels, dead)
        return int(pos.size)

    def _live_mask(self) -> np.ndarray | None:
        return self._labels >= 0 if np.any(self._labels < 0) else None

    def _search_masked(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None, ef_scale: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(queries) > FEW_QUERIES:
            return super()._search_masked(queries, k, mask, ef_scale)
        # a few queries: one BLAS product over faiss's storage (no copy) is 2-4x faster than
        # faiss's per-query scan (`benchmarks/library_scale.py`)
        n = self._index.ntotal
        stored = _faiss().rev_swig_ptr(self._index.get_xb(), n * self.dim).reshape(n, self.dim)
        sims = queries @ stored.T  # (Q, N)
        if mask is not None:
            sims[:, ~mask] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(-sims, top, axis=1).argsort(axis=1, kind="stable")
        pos = np.take_along_axis(top, order, axis=1)
        scores = np.take_along_axis(sims, pos, axis=1)
        return scores, np.where(np.isfinite(scores), pos, -1)


class HNSWIndex(_FaissIndex):
    """Approximate inner-product search on an HNSW graph (faiss `IndexHNSWFlat`).

    Much faster than `FlatIndex` on large collections of real (clustered) embeddings at recall
    close to 1; on unstructured random vectors recall drops unless `ef_search` is raised.
    Removed vectors are tombstoned and the graph rebuilt when they pass `max_tombstones`.

    Example:
        >>> index = HNSWIndex(dim=512, params=HNSWParams(m=32, ef_search=128))
    """

    kind = "hnsw"

    def __init__(self, dim: int, params: HNSWParams | None = None) -> None:
        self.params = params or HNSWParams()
        self.auto_compact = True
        """Rebuild inside `remove` once tombstones pass `max_tombstones` (a `Library` turns this
        off and rebuilds in its background compaction instead)."""
        super().__init__(dim, self._new_graph(_check_dim(dim)), np.zeros(0, np.int64))

    def remove(self, ids: np.ndarray) -> int:
        ids = as_ids(ids)
        pos = np.flatnonzero(np.isin(self._labels, ids) & (self._labels >= 0))
        self._labels[pos] = -1
        if self.auto_compact and self.needs_rebuild:
            self.compact()
        return int(pos.size)

    @property
    def needs_rebuild(self) -> bool:
        """Whether tombstones exceed `max_tombstones` of the graph's nodes."""
        dead = self.tombstones
        return dead > 0 and dead > self.params.max_tombstones * len(self._labels)

    def rebuilt(self, ids: np.ndarray, vectors: np.ndarray) -> HNSWIndex:
        """A new graph with the same settings holding `vectors` (no tombstones)."""
        fresh = HNSWIndex(self.dim, self.params)
        fresh.auto_compact = self.auto_compact
        if len(ids):
            fresh.add(ids, vectors)
        return fresh

    def compact(self) -> None:
        """Rebuild the graph from the live vectors, dropping tombstones."""
        live = np.flatnonzero(self._labels >= 0)
        vectors = self._index.storage.reconstruct_batch(live) if live.size else None
        labels = self._labels[live]
        self._index = self._new_graph(self.dim)
        self._labels = np.zeros(0, np.int64)
        if vectors is not None:
            self.add(labels, vectors)

    @property
    def tombstones(self) -> int:
        """Removed vectors still in the graph (skipped by searches)."""
        return int(np.count_nonzero(self._labels < 0))

    def _new_graph(self, dim: int) -> Any:
        faiss = _faiss()
        index = faiss.IndexHNSWFlat(dim, self.params.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.params.ef_construction
        index.hnsw.efSearch = self.params.ef_search
        return index

    def _live_mask(self) -> np.ndarray | None:
        return self._labels >= 0 if self.tombstones else None

    def _search_params(self, ef_scale: int) -> Any:
        params = _faiss().SearchParametersHNSW()
        params.efSearch = self.params.ef_search * ef_scale
        return params

    def _storage(self) -> Any:
        return self._index.storage

    def _params_dict(self) -> dict[str, Any]:
        return asdict(self.params)


@dataclass(frozen=True)
class IVFPQParams:
    """IVF-PQ settings: an inverted file of product-quantised codes (memory / recall trade-off).

    Attributes:
        nlist: coarse clusters (0: about 4 * sqrt(N) at training, at least 16).
        m: sub-quantisers per vector; each stores `nbits` bits, so a vector takes m bytes at
            nbits 8 (0: dim / 16, the largest divisor of dim not above it).
        nbits: bits per sub-quantiser code.
        nprobe: clusters visited per search (recall vs speed).
        train_size: vectors gathered (searched exactly meanwhile) before the quantisers are
            trained; at least 39 * nlist are used.
        refine: a `Library` re-ranks the best `refine * k` codes exactly against its stored
            vectors (read from the segments) and keeps the best k (0: no re-ranking). Lifts
            recall@10 from about 0.3 to about 0.9 at 16 bytes per vector on clustered data
            (`benchmarks/library_scale.py`) for about `refine * k` vector reads per query.
    """

    nlist: int = 0
    m: int = 0
    nbits: int = 8
    nprobe: int = 32
    train_size: int = 20_000
    refine: int = 10

    def __post_init__(self) -> None:
        if (
            self.nlist < 0
            or self.m < 0
            or not 1 <= self.nbits <= 16
            or self.nprobe < 1
            or self.refine < 0
        ):
            raise BadInput(f"IVF-PQ parameters out of range: {self}")


class IVFPQIndex(_FaissIndex):
    """Approximate search over product-quantised codes (faiss `IndexIVFPQ`, Jegou et al. 2011).

    Holds about `m` bytes per vector instead of 4 * dim: at dim 1024 and m 64, 64 bytes against
    4096. Until `train_size` vectors have arrived they are kept and searched exactly; then the
    coarse and product quantisers are trained on them and every vector is encoded. Removed
    vectors are tombstones skipped by searches, dropped when the library is compacted (and so
    rebuilt). `vectors()` gives the lossy reconstructions; `Library` reads exact vectors from its
    segments instead.

    Reference: Jegou, Douze & Schmid, "Product quantization for nearest neighbor search", TPAMI 2011.
    """

    kind = "ivfpq"

    def __init__(self, dim: int, params: IVFPQParams | None = None) -> None:
        self.params = params or IVFPQParams()
        super().__init__(_check_dim(dim), _faiss().IndexFlatIP(dim), np.zeros(0, np.int64))
        self.trained = False

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        super().add(ids, vectors)
        if not self.trained and len(self._labels) >= self.params.train_size:
            self._train()

    def remove(self, ids: np.ndarray) -> int:
        ids = as_ids(ids)
        pos = np.flatnonzero(np.isin(self._labels, ids) & (self._labels >= 0))
        self._labels[pos] = -1
        return int(pos.size)

    def _train(self) -> None:
        faiss = _faiss()
        flat = self._index
        vectors = flat.reconstruct_n(0, flat.ntotal)  # (N, D)
        n = len(vectors)
        nlist = self.params.nlist or max(16, min(int(4 * n**0.5), n // 39))
        m = self.params.m or _largest_divisor(self.dim, max(1, self.dim // 16))
        quantiser = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFPQ(
            quantiser, self.dim, nlist, m, self.params.nbits, faiss.METRIC_INNER_PRODUCT
        )
        ivf.train(vectors)
        ivf.add(vectors)
        ivf.nprobe = self.params.nprobe
        ivf.make_direct_map()
        self._quantiser = quantiser  # keep alive: the IVF index points to it
        self._index = ivf
        self.trained = True

    def _live_mask(self) -> np.ndarray | None:
        return self._labels >= 0 if np.any(self._labels < 0) else None

    def _search_params(self, ef_scale: int) -> Any:
        if not self.trained:
            return _faiss().SearchParameters()
        params = _faiss().SearchParametersIVF()
        params.nprobe = min(self.params.nprobe * ef_scale, self._index.nlist)
        return params

    def _params_dict(self) -> dict[str, Any]:
        return asdict(self.params)


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, at_most + 1) if n % d == 0)


def make_index(
    kind: str, dim: int, params: dict[str, Any] | None = None
) -> FlatIndex | HNSWIndex | IVFPQIndex:
    """A new empty index of `kind` ("flat", "hnsw" or "ivfpq") with its parameters as a dict.

    Raises:
        BadInput: unknown kind or parameters.
    """
    params = dict(params or {})
    if kind == "flat":
        if params:
            raise BadInput(f"a flat index takes no parameters, got {sorted(params)}")
        return FlatIndex(dim)
    for name, cls, settings in (
        ("hnsw", HNSWIndex, HNSWParams),
        ("ivfpq", IVFPQIndex, IVFPQParams),
    ):
        if kind == name:
            try:
                return cls(dim, settings(**params))
            except TypeError:
                valid = sorted(settings.__dataclass_fields__)
                raise BadInput(
                    f"unknown {name.upper()} parameters {sorted(params)}; valid: {valid}"
                ) from None
    raise BadInput(f"unknown index kind {kind!r}; valid: flat, hnsw, ivfpq")


def load_index(path: str | Path) -> FlatIndex | HNSWIndex | IVFPQIndex:
    """Read an index written by `save`.

    Raises:
        VectorIndexError: the file is missing, truncated or not an openbind index.
    """
    faiss = _faiss()
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != FORMAT:
                raise VectorIndexError(f"{path}: not an {FORMAT} file (format {data['format']})")
            kind, dim = str(data["kind"]), int(data["dim"])
            params = json.loads(str(data["params"]))
            labels = data["labels"].astype(np.int64)
            graph = faiss.deserialize_index(data["faiss"])
    except VectorIndexError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, EOFError) as e:
        raise VectorIndexError(f"cannot read index {path}: {e}") from e
    index = make_index(kind, dim, params)
    if graph.d != dim or graph.ntotal != len(labels):
        raise VectorIndexError(
            f"{path}: corrupt index ({graph.ntotal} vectors, {len(labels)} labels)"
        )
    index._index = graph
    index._labels = labels
    if isinstance(index, IVFPQIndex):
        index.trained = not isinstance(graph, faiss.IndexFlat)
    return index


def _pad(ids: np.ndarray, scores: np.ndarray, k: int) -> Neighbours:
    """Neighbours with -1 / -inf where fewer than `k` were found."""
    scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
    pad = k - ids.shape[1]
    if pad > 0:
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return Neighbours(ids.astype(np.int64), scores)


def _check_dim(dim: int) -> int:
    if int(dim) < 1:
        raise BadInput(f"dimension must be >= 1, got {dim}")
    return int(dim)


def _empty(q: int, k: int) -> Neighbours:
    return Neighbours(np.full((q, k), -1, np.int64), np.full((q, k), -np.inf, np.float32))
