"""`Library`: a folder holding a vector index, its item metadata and a manifest, updated atomically.

Layout of a library folder:

    CURRENT              name of the committed generation, e.g. "gen-000007"
    gen-000007/          manifest.json, vectors.npz (the index), meta.sqlite (the items)
    gen-000006/          the previous generation, kept for readers that opened it
    .staging-PID-XXXX/   a writer's next generation while it is being written
    .lock                held (flock) by the one process writing

Writes never touch a committed generation. The first change after opening copies the metadata
into a staging folder; `commit` writes the index and manifest there, fsyncs, renames the folder to
the next generation and then swaps `CURRENT` atomically. A crash or SIGKILL at any point leaves
`CURRENT` naming a complete generation, so the library opens as it was before the update.

Example:
    >>> lib = Library.create("photos", model_id="starter", dim=384)
    >>> ids = lib.add(vectors, [Record("a.jpg", Modality.IMAGE)])
    >>> lib.commit()
    >>> lib.search(query_vector, k=5, modality="image")[0].path
    'a.jpg'
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from openbind._version import __version__
from openbind.atomic import fsync_dir, write_atomic, write_text_atomic
from openbind.errors import BadInput, VectorIndexError
from openbind.index.base import as_ids, as_matrix
from openbind.index.faiss_index import FlatIndex, HNSWIndex, load_index, make_index
from openbind.index.manifest import Manifest, utc_now
from openbind.index.metadata import MetadataStore, Record
from openbind.types import Embeddings, Modality

CURRENT = "CURRENT"
MANIFEST, VECTORS, META = "manifest.json", "vectors.npz", "meta.sqlite"
_GEN = re.compile(r"^gen-(\d{6,})$")
NORM_TOLERANCE = 1e-3


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
        data.update(path=self.path, modalities=self.modalities, size_bytes=self.size_bytes)
        return data


class Library:
    """A searchable collection of embedded items (open one with `Library.open` or `create`).

    Changes (`add`, `remove`, `set_roots`) are visible to this object's searches at once and
    reach disk atomically with `commit`. Used as a context manager, a library commits on a clean
    exit and discards pending changes on an exception. Methods are thread-safe.
    """

    def __init__(
        self, path: Path, generation: str, manifest: Manifest, index: FlatIndex | HNSWIndex
    ) -> None:
        self.path = path
        self._generation = generation
        self._manifest = manifest
        self._index = index
        self._meta = MetadataStore(path / generation / META, readonly=True)
        self._lock = threading.RLock()
        self._staging: Path | None = None
        self._lockfile: int | None = None
        self._by_modality: dict[Modality, np.ndarray] = {}

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
            VectorIndexError: `path` exists and is not an empty folder.
            BadInput: unknown kind or parameters.
        """
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise VectorIndexError(f"cannot create a library in {path}: it exists and is not empty")
        index = make_index(kind, dim, params)
        path.mkdir(parents=True, exist_ok=True)
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
        )
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=path))
        MetadataStore(staging / META).close()
        name = _publish(path, staging, manifest, index)
        return cls(path, name, Manifest.read(path / name / MANIFEST), index)

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
        index = load_index(path / generation / VECTORS)
        if index.dim != manifest.dim or index.kind != manifest.kind:
            raise VectorIndexError(
                f"{path}: index ({index.kind}, {index.dim}-d) does not match its manifest"
            )
        return cls(path, generation, manifest, index)

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
        self, query: Any, k: int = 10, *, modality: Modality | str | None = None
    ) -> list[Hit]:
        """The `k` items closest to one query vector, best first.

        Args:
            query: a (D,) or (1, D) vector (numpy, torch or `Embeddings`); it is L2-normalised.
            k: how many hits at most.
            modality: only items of this modality.

        Raises:
            BadInput: wrong shape, or a zero / non-finite vector.
            IndexMismatch: `Embeddings` of another space.
        """
        queries = self._queries(query)
        if len(queries) != 1:
            raise BadInput(f"search takes one query vector, got {len(queries)}; use search_batch")
        return self.search_batch(queries, k, modality=modality)[0]

    def search_batch(
        self, queries: Any, k: int = 10, *, modality: Modality | str | None = None
    ) -> list[list[Hit]]:
        """`search` for each row of a (Q, D) array of queries."""
        queries = self._queries(queries)
        with self._lock:
            allow = self._ids_of(Modality.parse(modality)) if modality is not None else None
            found = self._index.search(queries, k, allow=allow)
            records = self._meta.get(np.unique(found.ids[found.ids >= 0]).tolist())
        hits: list[list[Hit]] = []
        for ids, scores in zip(found.ids, found.scores, strict=True):
            row = []
            for i, s in zip(ids.tolist(), scores.tolist(), strict=True):
                if i >= 0 and i in records:
                    row.append(_hit(records[i], s))
            hits.append(row)
        return hits

    def get(self, ids: Sequence[int]) -> list[Record]:
        """The records of `ids`, in that order.

        Raises:
            BadInput: an id is not in the library.
        """
        ids = as_ids(ids).tolist()
        with self._lock:
            found = self._meta.get(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise BadInput(f"ids not in the library: {missing[:10]}")
        return [found[i] for i in ids]

    def records(self) -> list[Record]:
        """Every item's record, ordered by id."""
        with self._lock:
            return self._meta.all()

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored (N, D) vectors of `ids`."""
        with self._lock:
            return self._index.vectors(as_ids(ids))

    def info(self) -> LibraryInfo:
        """Manifest, items per modality and disk size."""
        with self._lock:
            counts = self._meta.counts()
            gen = self.path / self._generation
            size = sum(p.stat().st_size for p in gen.iterdir() if p.is_file())
            return LibraryInfo(str(self.path), self._manifest, counts, size)

    # -- writing -----------------------------------------------------------------------------

    def add(self, vectors: Any, records: Sequence[Record]) -> np.ndarray:
        """Add items: one L2-normalised vector and one record each. Returns their new ids.

        Raises:
            BadInput: shapes differ, vectors are not normalised, or an item (path, modality)
                is already in the library.
            IndexMismatch: `Embeddings` of another space.
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
            self._manifest = replace(
                self._manifest, next_id=start + len(records), count=len(self._index)
            )
            self._by_modality.clear()
            return ids

    def remove(self, ids: Sequence[int]) -> int:
        """Remove items by id (unknown ids are ignored); returns how many were removed."""
        ids = as_ids(ids)
        with self._lock:
            self._begin_write()
            removed = self._index.remove(ids)
            self._meta.delete(ids.tolist())
            self._manifest = replace(self._manifest, count=len(self._index))
            self._by_modality.clear()
            return removed

    def set_roots(self, roots: Sequence[str | Path]) -> None:
        """Record the folders or files the library is built from."""
        with self._lock:
            self._begin_write()
            self._manifest = replace(self._manifest, roots=tuple(str(r) for r in roots))

    @property
    def dirty(self) -> bool:
        """Whether there are uncommitted changes."""
        return self._staging is not None

    def commit(self) -> None:
        """Write pending changes as a new generation, atomically (no-op without changes).

        Raises:
            VectorIndexError: the files cannot be written (disk full, permissions). The previous
                generation stays current and the pending changes are dropped.
        """
        with self._lock:
            if self._staging is None:
                return
            self._meta.commit()
            self._meta.close()
            manifest = self._manifest.touched(count=len(self._index))
            try:
                name = _publish(self.path, self._staging, manifest, self._index)
            except OSError as e:
                self.discard()
                raise VectorIndexError(f"cannot write library {self.path}: {e}") from e
            self._staging = None
            self._switch(name)
            self._release()

    def discard(self) -> None:
        """Drop pending changes and reload the committed generation."""
        with self._lock:
            if self._staging is None:
                return
            self._meta.close()  # closing twice is harmless
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
            self._index = load_index(self.path / self._generation / VECTORS)
            self._manifest = Manifest.read(self.path / self._generation / MANIFEST)
            self._switch(self._generation)
            self._release()

    def reload(self) -> bool:
        """Switch to a newer committed generation written by another process, if there is one.

        Returns:
            True if the library changed. Pending changes of this object are kept (no reload).
        """
        with self._lock:
            if self._staging is not None:
                return False
            generation = _current(self.path)
            if generation == self._generation:
                return False
            manifest = Manifest.read(self.path / generation / MANIFEST)
            index = load_index(self.path / generation / VECTORS)
            self._meta.close()
            self._index, self._manifest = index, manifest
            self._switch(generation)
            return True

    def close(self) -> None:
        """Release files; pending changes are discarded (call `commit` first to keep them)."""
        with self._lock:
            self.discard()
            self._meta.close()

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

    def _ids_of(self, modality: Modality) -> np.ndarray:
        if modality not in self._by_modality:
            self._by_modality[modality] = self._meta.ids_of(modality)
        return self._by_modality[modality]

    def _begin_write(self) -> None:
        if self._staging is not None:
            return
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
        _remove_stale_staging(self.path)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=self.path))
        self._meta.backup_to(staging / META)
        self._meta.close()
        self._meta = MetadataStore(staging / META)
        self._staging = staging

    def _switch(self, generation: str) -> None:
        self._generation = generation
        self._meta = MetadataStore(self.path / generation / META, readonly=True)
        self._by_modality.clear()

    def _release(self) -> None:
        if self._lockfile is not None:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            os.close(self._lockfile)
            self._lockfile = None


def _hit(record: Record, score: float) -> Hit:
    metadata = {
        "content_hash": record.content_hash,
        "size": record.size,
        "mtime": record.mtime,
        "extra": record.extra,
    }
    return Hit(record.id, float(score), record.path, record.modality, metadata)


def _current(path: Path) -> str:
    try:
        name = (path / CURRENT).read_text().strip()
    except FileNotFoundError:
        raise VectorIndexError(f"{path} is not an openbind library (no {CURRENT} file)") from None
    if not _GEN.match(name) or not (path / name).is_dir():
        raise VectorIndexError(f"{path}: {CURRENT} names a missing generation {name!r}")
    return name


def _publish(path: Path, staging: Path, manifest: Manifest, index: FlatIndex | HNSWIndex) -> str:
    """Turn a staging folder into the next generation and make it current. Returns its name."""
    generations = sorted(int(m.group(1)) for p in path.iterdir() if (m := _GEN.match(p.name)))
    number = (generations[-1] if generations else 0) + 1
    name = f"gen-{number:06d}"
    manifest = replace(manifest, generation=number)
    write_atomic(staging / VECTORS, index.write)
    write_text_atomic(staging / MANIFEST, manifest.to_json())
    _fsync_file(staging / META)
    fsync_dir(staging)
    os.rename(staging, path / name)
    fsync_dir(path)
    previous = (path / CURRENT).read_text().strip() if (path / CURRENT).exists() else None
    write_text_atomic(path / CURRENT, name + "\n")
    for n in generations:
        old = f"gen-{n:06d}"
        if old != previous:
            shutil.rmtree(path / old, ignore_errors=True)
    return name


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_staging(path: Path) -> None:
    """Delete staging folders of writers that died (called with the write lock held)."""
    for p in path.glob(".staging-*"):
        shutil.rmtree(p, ignore_errors=True)
