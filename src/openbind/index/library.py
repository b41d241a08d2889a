"""`Library`: vectors, item metadata and a manifest in one folder, updated atomically.

Layout of a library folder:

    CURRENT              name of the committed generation, e.g. "gen-000007"
    gen-000007/          manifest.json: model, index kind, roots, and the segments it holds
    gen-000006/          the previous generation, kept for readers that still have it open
    segments/            seg-000003.{ids,vec}.npy ...: the vectors each commit added, never changed
    meta.sqlite          the items of every generation (SQLite, WAL; rows carry added/removed)
    .lock                held (flock) by the one process writing

A commit costs what it changed, not the library's size: it writes one segment with the vectors
added since the last commit, the metadata rows it changed, and a small manifest. The in-memory
index (faiss flat or HNSW) is built from the segments when the library is opened, and a reader
moving to a newer generation (`reload`) reads only the new segments. Compaction (`compact`, run
in the background once there are more than `MAX_SEGMENTS` segments or a quarter of the stored
vectors are dead) merges the live vectors into one segment.

Crash safety (SIGKILL at any point): segment files and the manifest are written and fsynced
before `CURRENT` names them, and metadata rows of a generation that never became current are
invisible to readers (they read the rows of their generation only) and undone by the next writer,
which also deletes the files a dead writer left. `CURRENT` always names a complete generation.

Example:
    >>> lib = Library.create("photos", model_id="starter", dim=384)
    >>> ids = lib.add(vectors, [Record("a.jpg", Modality.IMAGE)])
    >>> lib.commit()
    >>> lib.search(query_vector, k=5, modality="image")[0].path
    'a.jpg'
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from openbind._version import __version__
from openbind.atomic import fsync_dir, write_atomic, write_text_atomic
from openbind.errors import BadInput, UnknownId, VectorIndexError
from openbind.index.base import Neighbours, as_ids, as_matrix
from openbind.index.faiss_index import FlatIndex, HNSWIndex, IVFPQIndex, load_index, make_index
from openbind.index.filters import Filter
from openbind.index.manifest import OLD_FORMATS, Manifest, utc_now
from openbind.index.metadata import MetadataStore, Record
from openbind.index.segments import (
    CHUNK_ROWS,
    SEGMENTS,
    read_segment,
    remove_unlisted,
    segment_bytes,
    write_segment,
    write_segment_rows,
)
from openbind.types import Embeddings, Modality

CURRENT = "CURRENT"
MANIFEST, META = "manifest.json", "meta.sqlite"
SNAPSHOT_KINDS = ("hnsw", "ivfpq")
"""Index kinds whose structure (graph, trained quantisers) compaction stores next to its segment."""
MAX_SEGMENTS = 32
"""A commit that leaves more segments than this starts a background compaction."""
_GEN = re.compile(r"^gen-(\d{6,})$")
NORM_TOLERANCE = 1e-3

log = logging.getLogger("openbind.index")
AnyIndex = FlatIndex | HNSWIndex | IVFPQIndex


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        id: vector id in the library.
        score: cosine similarity to the query (higher is closer).
        path: where the item came from.
        modality: how it was embedded.
        metadata: content_hash, size, mtime and extra (a dict) of the item.
    """

    id: int
    score: float
    path: str
    modality: Modality
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, record: Record, score: float) -> Hit:
        """The hit of a stored item."""
        metadata = {
            "content_hash": record.content_hash,
            "size": record.size,
            "mtime": record.mtime,
            "extra": record.extra,
        }
        return cls(record.id, float(score), record.path, record.modality, metadata)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "score": self.score,
            "path": self.path,
            "modality": self.modality.value,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class LibraryInfo:
    """What `Library.info` reports.

    Attributes:
        path: the library folder.
        manifest: its committed-or-pending manifest.
        modalities: items per modality.
        size_bytes: disk size of the current generation.
    """

    path: str
    manifest: Manifest
    modalities: dict[str, int]
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the manifest's fields flattened in)."""
        data = asdict(self.manifest)
        data["roots"] = list(self.manifest.roots)
        data["segments"] = list(self.manifest.segments)
        data.update(path=self.path, modalities=self.modalities, size_bytes=self.size_bytes)
        return data


class Library:
    """A searchable collection of embedded items (open one with `Library.open` or `create`).

    Changes (`add`, `remove`, `set_roots`) are visible to this object's searches at once and
    reach disk atomically with `commit`. Used as a context manager, a library commits on a clean
    exit and discards pending changes on an exception. Methods are thread-safe.
    """

    def __init__(
        self,
        path: Path,
        generation: str,
        manifest: Manifest,
        index: AnyIndex,
        meta: MetadataStore,
    ) -> None:
        self.path = path
        self._generation = generation
        self._manifest = manifest
        self._index = index
        self._meta = meta
        self._lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._staging: int | None = None  # the pending generation's number while writing
        self._pending_ids: list[np.ndarray] = []
        self._pending_vectors: list[np.ndarray] = []
        self._lockfile: int | None = None
        self._by_filter: dict[tuple[Filter, Modality | None], np.ndarray] = {}
        self._compactor: threading.Thread | None = None
        self._segment_cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.last_commit_bytes = 0
        """Bytes the last commit wrote (segment, manifest and metadata rows, roughly)."""

    # -- create / open -----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        model_id: str,
        dim: int,
        kind: str = "flat",
        params: dict[str, Any] | None = None,
        roots: Sequence[str | Path] = (),
    ) -> Library:
        """Create an empty library in `path` (a new or empty folder) and open it.

        Args:
            path: the library folder.
            model_id: the space whose vectors it will hold.
            dim: their dimension.
            kind: "flat" (exact) or "hnsw" (approximate, for large collections).
            params: index parameters (HNSW: m, ef_construction, ef_search, max_tombstones).
            roots: folders or files it is built from (used by `openbind index update`).

        Raises:
            VectorIndexError: `path` exists and is not an empty folder, or cannot be written.
            BadInput: unknown kind or parameters.
        """
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise VectorIndexError(f"cannot create a library in {path}: it exists and is not empty")
        _make_index(kind, dim, params)  # check kind and parameters first (creates a collection)
        now = utc_now()
        manifest = Manifest(
            model_id=model_id,
            dim=int(dim),
            kind=kind,
            params=dict(params or {}),
            roots=tuple(str(r) for r in roots),
            openbind_version=__version__,
            created=now,
            updated=now,
            generation=1,
        )
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / SEGMENTS).mkdir(exist_ok=True)
            MetadataStore(path / META, 1).close()
            _write_generation(path, manifest)
            write_text_atomic(path / CURRENT, _name(1) + "\n")
        except OSError as e:
            raise VectorIndexError(f"cannot create library {path}: {e}") from e
        return cls.open(path)

    @classmethod
    def open(
        cls, path: str | Path, *, model_id: str | None = None, dim: int | None = None
    ) -> Library:
        """Open the committed generation of the library in `path`.

        Args:
            path: the library folder.
            model_id: if given, refuse a library built with another space.
            dim: if given, refuse a library of another dimension.

        Raises:
            VectorIndexError: `path` is not a library or its files are corrupt.
            IndexMismatch: built with another model or dimension than asked for.
        """
        path = Path(path)
        generation = _current(path)
        manifest = Manifest.read(path / generation / MANIFEST)
        manifest.check(model_id=model_id, dim=dim, where=str(path))
        if manifest.format in OLD_FORMATS:
            from openbind.index.migrate import migrate_v1

            migrate_v1(path, generation, manifest)
            return cls.open(path, model_id=model_id, dim=dim)
        meta = _open_meta(path, manifest.generation)
        try:
            index = _build_index(path, manifest, meta.live_ids())
        except BaseException:
            meta.close()
            raise
        return cls(path, generation, manifest, index, meta)

    @staticmethod
    def exists(path: str | Path) -> bool:
        """Whether `path` holds a library."""
        return (Path(path) / CURRENT).is_file()

    # -- reading -----------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The manifest, including pending (uncommitted) changes."""
        return self._manifest

    @property
    def model_id(self) -> str:
        return self._manifest.model_id

    @property
    def dim(self) -> int:
        return self._manifest.dim

    def __len__(self) -> int:
        return len(self._index)

    def search(
        self,
        query: Any,
        k: int = 10,
        *,
        offset: int = 0,
        modality: Modality | str | None = None,
        filter: Filter | Mapping[str, Any] | Sequence[str] | None = None,
    ) -> list[Hit]:
        """The `k` items closest to one query vector, best first, from rank `offset` on.

        Args:
            query: a (D,) or (1, D) vector (numpy, torch or `Embeddings`); it is L2-normalised.
            k: how many hits at most.
            offset: skip this many best hits first (pagination: page n is offset n * k).
            modality: only items of this modality.
            filter: only items meeting this `Filter` (or its mapping / expressions).

        Raises:
            BadInput: wrong shape, a zero / non-finite vector, k < 1, an offset past the last
                matching item, or a bad filter (`source` names the field).
            IndexMismatch: `Embeddings` of another space, or a vector of another dimension.
        """
        queries = self._queries(query)
        if len(queries) != 1:
            raise BadInput(f"search takes one query vector, got {len(queries)}; use search_batch")
        return self.search_batch(queries, k, offset=offset, modality=modality, filter=filter)[0]

    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        *,
        offset: int = 0,
        modality: Modality | str | None = None,
        filter: Filter | Mapping[str, Any] | Sequence[str] | None = None,
    ) -> list[list[Hit]]:
        """`search` for each row of a (Q, D) array of queries."""
        queries = self._queries(queries)
        if k < 1:
            raise BadInput(f"k must be >= 1, got {k}", source="k")
        if offset < 0:
            raise BadInput(f"must be >= 0, got {offset}", source="offset")
        where = Filter.parse(filter)
        only = Modality.parse(modality) if modality is not None else None
        with self._lock:
            allow = self._allowed(where, only) if where or only is not None else None
            total = len(self._index) if allow is None else len(allow)
            if offset and offset >= total:
                raise BadInput(
                    f"offset {offset} is past the end: {total} items match", source="offset"
                )
            refine = self._refine_factor()
            found = self._index.search(queries, (k + offset) * max(refine, 1), allow=allow)
            if refine:
                found = self._rerank(queries, found, k + offset)
            ids, scores = found.ids[:, offset:], found.scores[:, offset:]
            records = self._meta.get(np.unique(ids[ids >= 0]).tolist())
        hits: list[list[Hit]] = []
        for row_ids, row_scores in zip(ids, scores, strict=True):
            row = []
            for i, s in zip(row_ids.tolist(), row_scores.tolist(), strict=True):
                if i >= 0 and i in records:
                    row.append(Hit.of(records[i], s))
            hits.append(row)
        return hits

    def count(
        self,
        *,
        modality: Modality | str | None = None,
        filter: Filter | Mapping[str, Any] | Sequence[str] | None = None,
    ) -> int:
        """How many items meet `filter` (and `modality`); all items without them."""
        where = Filter.parse(filter)
        only = Modality.parse(modality) if modality is not None else None
        with self._lock:
            if not where and only is None:
                return len(self._index)
            return len(self._allowed(where, only))

    def get(self, ids: Sequence[int]) -> list[Record]:
        """The records of `ids`, in that order.

        Raises:
            UnknownId: an id is not in the library (the first missing one is named).
        """
        ids = as_ids(ids).tolist()
        with self._lock:
            found = self._meta.get(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise UnknownId(missing[0], where=f"library {self.path}")
        return [found[i] for i in ids]

    def find(
        self, filter: Filter | Mapping[str, Any] | Sequence[str] | None = None
    ) -> list[Record]:
        """The records of the items meeting `filter`, ordered by id."""
        where = Filter.parse(filter)
        with self._lock:
            return list(self._meta.get(self._allowed(where, None).tolist()).values())

    def records(self) -> list[Record]:
        """Every item's record, ordered by id."""
        with self._lock:
            return self._meta.all()

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored (N, D) vectors of `ids`, exact whatever the index kind (in `ids` order).

        Raises:
            UnknownId: an id is not in the library.
        """
        ids = as_ids(ids)
        with self._lock:
            live = self._index.ids()
            missing = ids[~np.isin(ids, live)]
            if missing.size:
                raise UnknownId(int(missing[0]), where=f"library {self.path}")
            if self._index.kind not in ("ivfpq", "milvus"):
                return self._index.vectors(ids)
            names = self._manifest.segments
            sources = list(zip(self._pending_ids, self._pending_vectors, strict=True))
        sources += [read_segment(self.path / SEGMENTS, n, self.dim) for n in names]
        return _gather(ids, sources, self.dim)

    def info(self) -> LibraryInfo:
        """Manifest, items per modality and disk size."""
        with self._lock:
            counts = self._meta.counts()
            size = segment_bytes(self.path / SEGMENTS, self._manifest.segments)
            size += sum(p.stat().st_size for p in self.path.iterdir() if p.name.startswith(META))
            return LibraryInfo(str(self.path), self._manifest, counts, size)

    # -- writing -----------------------------------------------------------------------------

    def add(self, vectors: Any, records: Sequence[Record]) -> np.ndarray:
        """Add items: one L2-normalised vector and one record each. Returns their new ids.

        Raises:
            BadInput: shapes differ, vectors are not normalised, or an item (path, modality)
                is already in the library.
            IndexMismatch: `Embeddings` of another space.
            VectorIndexError: the library cannot be written (another writer, read-only).
        """
        vectors = self._vectors(vectors)
        if len(vectors) != len(records):
            raise BadInput(f"{len(vectors)} vectors for {len(records)} records")
        norms = np.linalg.norm(vectors, axis=1)
        if len(norms) and np.abs(norms - 1.0).max() > NORM_TOLERANCE:
            raise BadInput("library vectors must be L2-normalised (unit norm)")
        with self._lock:
            self._begin_write()
            start = self._manifest.next_id
            ids = np.arange(start, start + len(records), dtype=np.int64)
            self._meta.insert([replace(r, id=int(i)) for r, i in zip(records, ids, strict=True)])
            self._index.add(ids, vectors)
            self._pending_ids.append(ids)
            self._pending_vectors.append(vectors)
            self._manifest = replace(
                self._manifest, next_id=start + len(records), count=len(self._index)
            )
            self._by_filter.clear()
            return ids

    def remove(self, ids: Sequence[int]) -> int:
        """Remove items by id (unknown ids are ignored); returns how many were removed."""
        ids = as_ids(ids)
        with self._lock:
            self._begin_write()
            removed = self._index.remove(ids)
            self._meta.delete(ids.tolist())
            for i, pending in enumerate(self._pending_ids):
                keep = ~np.isin(pending, ids)
                if not keep.all():
                    self._pending_ids[i] = pending[keep]
                    self._pending_vectors[i] = self._pending_vectors[i][keep]
            self._manifest = replace(self._manifest, count=len(self._index))
            self._by_filter.clear()
            return removed

    def set_roots(self, roots: Sequence[str | Path]) -> None:
        """Record the folders or files the library is built from."""
        with self._lock:
            self._begin_write()
            self._manifest = replace(self._manifest, roots=tuple(str(r) for r in roots))

    def set_tags_file(self, path: str | Path | None) -> None:
        """Record the sidecar file of user tags (`openbind.index.tags`) builds and updates read."""
        value = str(Path(path).expanduser().resolve()) if path else ""
        with self._lock:
            if value != self._manifest.tags_file:
                self._begin_write()
                self._manifest = replace(self._manifest, tags_file=value)

    @property
    def dirty(self) -> bool:
        """Whether there are uncommitted changes."""
        return self._staging is not None

    def commit(self) -> None:
        """Write pending changes as a new generation, atomically (no-op without changes).

        Writes one segment with the vectors added since the last commit, the changed metadata
        rows and a manifest; then starts a background compaction if segments have piled up.

        Raises:
            VectorIndexError: the files cannot be written (disk full, permissions). The previous
                generation stays current and the pending changes are dropped.
        """
        with self._lock:
            if self._staging is None:
                return
            number = self._staging
            try:
                written = self._publish(number)
            except (OSError, sqlite3.Error) as e:
                self.discard()
                raise VectorIndexError(f"cannot write library {self.path}: {e}") from e
            self.last_commit_bytes = written
            self._staging = None
            self._generation = _name(number)
            self._pending_ids, self._pending_vectors = [], []
            self._meta.generation = number
            self._release()
            self._maybe_compact()

    def discard(self) -> None:
        """Drop pending changes and go back to the committed generation."""
        with self._lock:
            if self._staging is None:
                return
            self._meta.rollback()
            self._meta.close()
            self._staging = None
            self._pending_ids, self._pending_vectors = [], []
            self._manifest = Manifest.read(self.path / self._generation / MANIFEST)
            self._meta = _open_meta(self.path, self._manifest.generation)
            self._index = _build_index(self.path, self._manifest, self._meta.live_ids())
            self._by_filter.clear()
            self._release()

    def compact(self) -> None:
        """Merge the live vectors of all segments into one segment, in a new generation.

        Searches go on meanwhile; the merged file is written outside the library's lock.
        """
        with self._lock:
            if self._staging is not None:
                self.commit()
            ids = np.sort(self._index.ids())
            listed = self._manifest.segments
            rebuild = isinstance(self._index, HNSWIndex) and self._index.needs_rebuild
            snapshot = None
            if self._index.kind in SNAPSHOT_KINDS and not rebuild:  # fast reopen
                snapshot = io.BytesIO()
                self._index.write(snapshot)
        sources = [read_segment(self.path / SEGMENTS, n, self.dim) for n in listed]

        def rows(chunk: np.ndarray) -> np.ndarray:  # bounded memory: a chunk at a time
            return _gather(chunk, sources, self.dim)

        fresh = None
        if rebuild:  # a graph without tombstones, built while searches go on
            fresh = self._index.rebuilt(np.zeros(0, np.int64), np.zeros((0, self.dim)))
            for start in range(0, len(ids), CHUNK_ROWS):
                chunk = ids[start : start + CHUNK_ROWS]
                fresh.add(chunk, rows(chunk))
            snapshot = io.BytesIO()
            fresh.write(snapshot)
        with self._lock:
            if fresh is not None:  # apply what changed meanwhile, then swap
                current = self._index.ids()
                added = np.setdiff1d(current, ids)
                if added.size:
                    fresh.add(added, self._index.vectors(added))
                gone = np.setdiff1d(ids, current)
                if gone.size:
                    fresh.remove(gone)
                self._index = fresh
            self._begin_write()
            number = self._staging
            assert number is not None
            name = f"seg-{number:06d}-c"
            written = write_segment_rows(self.path / SEGMENTS, name, ids, self.dim, rows)
            if snapshot is not None:
                data = snapshot.getvalue()
                write_atomic(self.path / SEGMENTS / f"{name}.index.npz", lambda f: f.write(data))
                written += len(data)
            later = tuple(s for s in self._manifest.segments if s not in listed)
            later_rows = self._manifest.stored - self._stored_in(listed)
            self._manifest = replace(
                self._manifest, segments=(name, *later), stored=len(ids) + later_rows
            )
            self.commit()
            self.last_commit_bytes += written

    def reload(self) -> bool:
        """Switch to a newer committed generation written by another process, if there is one.

        Only the segments added since this object's generation are read; a search running
        meanwhile finishes on the generation it started on.

        Returns:
            True if the library changed. Pending changes of this object are kept (no reload).
        """
        if self._staging is not None:
            return False
        try:
            generation = _current(self.path)
        except VectorIndexError:  # the folder went away or is being replaced: keep serving
            return False
        if generation == self._generation:
            return False
        with self._reload_lock:  # one loader at a time; searches go on meanwhile
            if generation == self._generation or self._staging is not None:
                return False
            try:
                manifest = Manifest.read(self.path / generation / MANIFEST)
                old = self._manifest
                if set(old.segments) <= set(manifest.segments) and manifest.kind == old.kind:
                    self._catch_up(generation, manifest)
                else:  # compacted: build the new index aside, then swap
                    meta = _open_meta(self.path, manifest.generation)
                    index = _build_index(self.path, manifest, meta.live_ids())
                    with self._lock:
                        self._meta.close()
                        self._index, self._manifest, self._meta = index, manifest, meta
                        self._generation = generation
                        self._by_filter.clear()
            except VectorIndexError:  # pruned by a newer commit meanwhile: the next call sees it
                return False
            return True

    def _catch_up(self, generation: str, manifest: Manifest) -> None:
        """Apply the segments and removals of the generations after ours, in place."""
        new = [s for s in manifest.segments if s not in self._manifest.segments]
        parts = [read_segment(self.path / SEGMENTS, s, self.dim) for s in new]
        before = self._manifest.generation
        with self._lock:
            self._meta.generation = manifest.generation
            if manifest.generation == before + 1:
                gone = self._meta.removed_between(before, manifest.generation)
            else:  # the writer prunes rows removed before its previous generation: diff instead
                gone = np.setdiff1d(self._index.ids(), self._meta.live_ids())
            for ids, vectors in parts:
                keep = ~np.isin(ids, gone) & ~np.isin(ids, self._index.ids())
                if keep.any():
                    self._index.add(ids[keep], np.asarray(vectors[keep]))
            if len(gone):
                self._index.remove(gone)
            self._manifest = manifest
            self._generation = generation
            self._by_filter.clear()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Library]:
        """Hold the current generation: calls inside the block all see the same one."""
        with self._lock:
            yield self

    def close(self) -> None:
        """Release files; pending changes are discarded (call `commit` first to keep them)."""
        with self._lock:
            if self._staging is not None:
                self.discard()
            self._meta.close()
        compactor = self._compactor
        if compactor is not None and compactor is not threading.current_thread():
            compactor.join()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _vectors(self, x: Any) -> np.ndarray:
        if isinstance(x, Embeddings):
            self._manifest.check(model_id=x.model_id, dim=x.dim, where=str(self.path))
            x = x.numpy()
        arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
        if arr.ndim in (1, 2) and arr.shape[-1] != self.dim:
            self._manifest.check(dim=arr.shape[-1], where=str(self.path))
        return as_matrix(arr, self.dim, "vectors")

    def _queries(self, x: Any) -> np.ndarray:
        q = self._vectors(x)
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        if (norms == 0).any():
            raise BadInput("a query vector is all zeros")
        return q / norms

    def _refine_factor(self) -> int:
        """IVF-PQ's `refine`: how many codes per wanted hit are re-ranked exactly (0: none)."""
        return int(getattr(getattr(self._index, "params", None), "refine", 0) or 0)

    def _rerank(self, queries: np.ndarray, found: Neighbours, k: int) -> Neighbours:
        """The best `k` of each query's shortlist by exact inner product with stored vectors."""
        ids = found.ids
        valid = ids >= 0
        vectors = self._stored_vectors(np.unique(ids[valid]))
        order = np.searchsorted(vectors[0], np.where(valid, ids, 0))
        rows = vectors[1][order]  # (Q, K', D)
        scores = np.where(valid, np.einsum("qkd,qd->qk", rows, queries), -np.inf)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top_ids = np.take_along_axis(np.where(valid, ids, -1), best, axis=1)
        top = np.take_along_axis(scores, best, axis=1).astype(np.float32)
        if top_ids.shape[1] < k:
            pad = k - top_ids.shape[1]
            top_ids = np.pad(top_ids, ((0, 0), (0, pad)), constant_values=-1)
            top = np.pad(top, ((0, 0), (0, pad)), constant_values=-np.inf)
        return Neighbours(top_ids, top)

    def _stored_vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sorted unique ids, their exact vectors) from the pending adds and the segments.

        Segment id files are read once and kept (sorted) per segment name: segments never change.
        """
        ids = np.unique(ids)
        out = np.zeros((len(ids), self.dim), np.float32)
        if not len(ids):
            return ids, out
        sources = [
            (i, v, np.argsort(i, kind="stable"))
            for i, v in zip(self._pending_ids, self._pending_vectors, strict=True)
        ]
        for name in self._manifest.segments:
            if name not in self._segment_cache:
                seg_ids, seg_vectors = read_segment(self.path / SEGMENTS, name, self.dim)
                self._segment_cache[name] = (seg_ids, seg_vectors, np.argsort(seg_ids))
            sources.append(self._segment_cache[name])
        for name in set(self._segment_cache) - set(self._manifest.segments):
            del self._segment_cache[name]
        for source_ids, source_vectors, order in sources:
            if not len(source_ids):
                continue
            at = order[np.minimum(np.searchsorted(source_ids, ids, sorter=order), len(order) - 1)]
            hit = np.flatnonzero(source_ids[at] == ids)
            if hit.size:
                out[hit] = np.asarray(source_vectors[at[hit]])
        return ids, out

    def _allowed(self, where: Filter, modality: Modality | None) -> np.ndarray:
        """Ids meeting a filter, cached until the next change."""
        key = (where, modality)
        if key not in self._by_filter:
            if len(self._by_filter) >= 64:
                self._by_filter.pop(next(iter(self._by_filter)))
            condition, args = where.sql(self._manifest.roots, modality=modality)
            self._by_filter[key] = self._meta.ids_where(condition, args)
        return self._by_filter[key]

    def _begin_write(self) -> None:
        if self._staging is not None:
            return
        try:
            self._start_staging()
        except (OSError, sqlite3.Error) as e:  # a read-only folder or a full disk
            self._release()
            raise VectorIndexError(f"cannot write library {self.path}: {e}") from e

    def _start_staging(self) -> None:
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise VectorIndexError(
                f"library {self.path} is being written by another process"
            ) from None
        self._lockfile = fd
        if _current(self.path) != self._generation:
            self._release()
            raise VectorIndexError(
                f"library {self.path} changed since it was opened; open it again"
            )
        number = self._manifest.generation
        _remove_leftovers(self.path, number)
        meta = MetadataStore(self.path / META, number + 1)
        meta.rollback_after(number)  # rows of a writer that died before its CURRENT swap
        self._meta.close()
        self._meta = meta
        self._staging = number + 1

    def _publish(self, number: int) -> int:
        """Write generation `number` and make it current; returns the bytes written."""
        written = 0
        segments = self._manifest.segments
        ids = np.concatenate(self._pending_ids) if self._pending_ids else np.zeros(0, np.int64)
        if len(ids):
            name = f"seg-{number:06d}"
            vectors = np.concatenate(self._pending_vectors)
            written += write_segment(self.path / SEGMENTS, name, ids, vectors)
            segments = (*segments, name)
        manifest = replace(
            self._manifest.touched(count=len(self._index)),
            segments=segments,
            generation=number,
            stored=self._manifest.stored + len(ids),
        )
        self._meta.prune(number - 1)  # rows removed by now are invisible to both kept gens
        written += _write_generation(self.path, manifest)
        self._meta.commit()  # the rows become durable; readers still ignore them (CURRENT)
        written += (len(ids) + 1) * 200  # metadata rows, roughly
        previous = self._generation
        write_text_atomic(self.path / CURRENT, _name(number) + "\n")
        self._manifest = manifest
        _prune_generations(self.path, keep=(_name(number), previous))
        return written

    def _maybe_compact(self) -> None:
        """Start a background compaction when segments piled up or many vectors are dead."""
        segments = self._manifest.segments
        stored = self._manifest.stored
        dead = stored - len(self._index) > 0.25 * max(stored, 1) and stored > 1000
        stale = False
        if self._index.kind in SNAPSHOT_KINDS and len(segments) > 1:
            # rebuilding a graph or quantisers at open costs O(N): keep a snapshot that covers
            # at least half of the vectors (amortised O(1) per added vector)
            first = segments[0]
            covered = self._stored_in([first]) if first.endswith("-c") else 0
            stale = stored > 2 * covered
        rebuild = isinstance(self._index, HNSWIndex) and self._index.needs_rebuild
        if len(segments) <= MAX_SEGMENTS and not dead and not stale and not rebuild:
            return
        if self._compactor is not None and self._compactor.is_alive():
            return

        def run() -> None:
            try:
                self.compact()
            except (VectorIndexError, OSError, sqlite3.Error) as e:
                log.warning("background compaction of %s failed: %s", self.path, e)

        self._compactor = threading.Thread(target=run, name="openbind-compact", daemon=True)
        self._compactor.start()

    def _stored_in(self, names: Sequence[str]) -> int:
        """Vectors in the named segments (their id files are small)."""
        return sum(len(read_segment(self.path / SEGMENTS, n, self.dim)[0]) for n in names)

    def _release(self) -> None:
        if self._lockfile is not None:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            os.close(self._lockfile)
            self._lockfile = None


def _current(path: Path) -> str:
    try:
        name = (path / CURRENT).read_text().strip()
    except FileNotFoundError:
        raise VectorIndexError(f"{path} is not an openbind library (no {CURRENT} file)") from None
    if not _GEN.match(name) or not (path / name).is_dir():
        raise VectorIndexError(f"{path}: {CURRENT} names a missing generation {name!r}")
    return name


def _gather(
    ids: np.ndarray, sources: Sequence[tuple[np.ndarray, np.ndarray]], dim: int
) -> np.ndarray:
    """The rows of `ids` (all present) from (ids, vectors) pairs such as segments, in `ids` order."""
    out = np.zeros((len(ids), dim), np.float32)
    order = np.argsort(ids, kind="stable")
    for source_ids, source_vectors in sources:
        rows = np.flatnonzero(np.isin(source_ids, ids))
        if rows.size:
            at = order[np.searchsorted(ids[order], source_ids[rows])]
            out[at] = np.asarray(source_vectors[rows])
    return out


def _name(number: int) -> str:
    return f"gen-{number:06d}"


def _open_meta(path: Path, generation: int) -> MetadataStore:
    try:
        return MetadataStore(path / META, generation, readonly=True)
    except VectorIndexError:  # a read-only connection needs the WAL index file: make it
        return MetadataStore(path / META, generation)


def _make_index(kind: str, dim: int, params: dict[str, Any] | None) -> Any:
    """`make_index`, or for kind "milvus" the library's collection on a Milvus server or file."""
    if kind != "milvus":
        return make_index(kind, dim, params)
    from openbind.index.milvus import MilvusIndex

    options = dict(params or {})
    try:
        uri, collection = options.pop("uri"), options.pop("collection")
    except KeyError:
        raise BadInput("a milvus library needs params uri and collection") from None
    return MilvusIndex(uri, collection, dim, **options)


def _build_index(path: Path, manifest: Manifest, live: np.ndarray) -> Any:
    """The index of a generation: its segments' vectors of the live ids.

    For a Milvus library the collection already holds them: it is reconciled with the live ids
    instead (vectors a dead writer added are deleted, missing ones added from the segments).
    """
    index = _make_index(manifest.kind, manifest.dim, manifest.params)
    if isinstance(index, HNSWIndex):
        index.auto_compact = False  # tombstones are dropped by background compaction
    if manifest.kind == "milvus":
        held = index.ids()
        extra = np.setdiff1d(held, live)
        if extra.size:
            index.remove(extra)
        live = np.setdiff1d(live, held)
        if not live.size:
            return index
    names = list(manifest.segments)
    if (
        manifest.kind in SNAPSHOT_KINDS
        and names
        and (path / SEGMENTS / f"{names[0]}.index.npz").is_file()
    ):
        index = load_index(path / SEGMENTS / f"{names.pop(0)}.index.npz")
        if isinstance(index, HNSWIndex):
            index.auto_compact = False
        dead = np.setdiff1d(index.ids(), live)
        if dead.size:
            index.remove(dead)
    for name in names:
        ids, vectors = read_segment(path / SEGMENTS, name, manifest.dim)
        keep = np.isin(ids, live)
        for start in range(0, len(ids), 65536):  # bounded copies out of the memory map
            chunk = keep[start : start + 65536]
            if chunk.any():
                index.add(
                    ids[start : start + 65536][chunk],
                    np.asarray(vectors[start : start + 65536][chunk]),
                )
    if manifest.kind != "milvus" and len(index) != len(live):
        raise VectorIndexError(
            f"{path}: {len(live)} items but {len(index)} vectors in the segments of "
            f"generation {manifest.generation}"
        )
    return index


def _write_generation(path: Path, manifest: Manifest) -> int:
    """Write `gen-N/manifest.json` durably (through a staging folder renamed into place)."""
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=path))
    try:
        text = manifest.to_json()
        write_text_atomic(staging / MANIFEST, text)
        fsync_dir(staging)
        os.rename(staging, path / _name(manifest.generation))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(path)
    return len(text)


def _prune_generations(path: Path, keep: tuple[str, ...]) -> None:
    """Delete generation folders and segment files that no kept generation uses."""
    listed: set[str] = set()
    for p in path.iterdir():
        if not _GEN.match(p.name):
            continue
        if p.name in keep:
            with contextlib.suppress(VectorIndexError):
                listed.update(Manifest.read(p / MANIFEST).segments)
        else:
            shutil.rmtree(p, ignore_errors=True)
    remove_unlisted(path / SEGMENTS, listed)


def _remove_leftovers(path: Path, current: int) -> None:
    """Delete what writers that died left (called with the write lock held)."""
    for p in path.glob(".staging-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in path.iterdir():
        m = _GEN.match(p.name)
        if m and int(m.group(1)) > current:  # renamed into place, never made current
            shutil.rmtree(p, ignore_errors=True)
    folder = path / SEGMENTS
    if folder.is_dir():
        for p in folder.iterdir():
            number = re.match(r"^\.?seg-(\d+)", p.name)
            if p.name.startswith(".") or (number and int(number.group(1)) > current):
                p.unlink(missing_ok=True)
