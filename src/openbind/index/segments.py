"""Append-only vector segments: each commit of a library writes the vectors it added, once.

A segment is two NumPy files in `LIB/segments/`: `NAME.ids.npy` (N,) int64 and `NAME.vec.npy`
(N, D) float32, each written atomically and fsynced before any manifest names the segment. They are
never modified; compaction writes a new segment with the live vectors of the old ones, and files
that no kept manifest names are deleted. Segments are read memory-mapped, so opening a library
copies each vector once, into the index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from openbind.atomic import write_atomic
from openbind.errors import VectorIndexError

SEGMENTS = "segments"
_NAME = re.compile(r"^(seg-\d{6,}(?:-c)?)\.(ids\.npy|vec\.npy|index\.npz)$")
CHUNK_ROWS = 65_536
"""Vectors handled at a time when a compaction gathers and writes a large segment."""


def write_segment(folder: Path, name: str, ids: np.ndarray, vectors: np.ndarray) -> int:
    """Write one segment durably; returns the bytes written."""
    folder.mkdir(exist_ok=True)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    write_atomic(folder / f"{name}.vec.npy", lambda f: np.save(f, vectors))
    write_atomic(folder / f"{name}.ids.npy", lambda f: np.save(f, ids))
    return ids.nbytes + vectors.nbytes + 256


def write_segment_rows(
    folder: Path,
    name: str,
    ids: np.ndarray,
    dim: int,
    rows: Callable[[np.ndarray], np.ndarray],
    chunk: int = CHUNK_ROWS,
) -> int:
    """`write_segment` with the vectors made `chunk` ids at a time by `rows(ids_chunk)`, so that
    a compaction of a large library holds one chunk in memory, not every vector."""
    folder.mkdir(exist_ok=True)
    ids = np.ascontiguousarray(ids, dtype=np.int64)

    def write(f: BinaryIO) -> None:
        header = {"descr": "<f4", "fortran_order": False, "shape": (len(ids), dim)}
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, len(ids), chunk):
            block = np.ascontiguousarray(rows(ids[start : start + chunk]), dtype="<f4")
            if block.shape != (len(ids[start : start + chunk]), dim):
                raise ValueError(f"rows gave {block.shape} for a chunk of {dim}-d vectors")
            f.write(block.tobytes())

    write_atomic(folder / f"{name}.vec.npy", write)
    write_atomic(folder / f"{name}.ids.npy", lambda f: np.save(f, ids))
    return ids.nbytes + len(ids) * dim * 4 + 256


def read_segment(folder: Path, name: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids (N,) and memory-mapped vectors (N, D) of a segment.

    Raises:
        VectorIndexError: a file is missing, truncated or of the wrong shape.
    """
    try:
        ids = np.load(folder / f"{name}.ids.npy", allow_pickle=False)
        vectors = np.load(folder / f"{name}.vec.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise VectorIndexError(f"cannot read segment {name} of {folder.parent}: {e}") from e
    if ids.ndim != 1 or vectors.shape != (len(ids), dim):
        raise VectorIndexError(
            f"segment {name} of {folder.parent} is corrupt: {ids.shape} ids, {vectors.shape} vectors"
        )
    return ids.astype(np.int64, copy=False), vectors


def remove_unlisted(folder: Path, keep: Iterable[str]) -> None:
    """Delete segment files (and temporary leftovers) that no name in `keep` refers to."""
    if not folder.is_dir():
        return
    keep = set(keep)
    for p in folder.iterdir():
        match = _NAME.match(p.name)
        if (match is None and p.name.startswith(".")) or (match and match.group(1) not in keep):
            p.unlink(missing_ok=True)


def segment_bytes(folder: Path, names: Iterable[str]) -> int:
    """Disk size of the named segments."""
    total = 0
    for name in names:
        for kind in ("ids.npy", "vec.npy", "index.npz"):
            p = folder / f"{name}.{kind}"
            total += p.stat().st_size if p.exists() else 0
    return total
