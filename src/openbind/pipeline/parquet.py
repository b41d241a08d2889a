"""Embeddings with their file metadata in Parquet.

Columns: `path` (string), `modality` (string), `content_hash` (string, blake2b hex), `size`
(int64), `mtime` (float64), `embedding` (fixed-size list of float32, the space's dimension).
Schema metadata: `openbind.model_id`, `openbind.dim`, `openbind.normalized`,
`openbind.version`. Read the file with any Parquet reader, or with `read_embeddings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openbind import __version__
from openbind.atomic import write_atomic
from openbind.errors import BadInput, IndexMismatch, require
from openbind.types import Modality


@dataclass(frozen=True)
class EmbeddingTable:
    """Rows of embedded files.

    Attributes:
        model_id: the space the vectors come from.
        paths: file paths, one per row.
        modalities: how each file was embedded.
        hashes: content hashes.
        sizes: file sizes in bytes.
        mtimes: modification times.
        vectors: (N, D) float32 L2-normalised embeddings.
    """

    model_id: str
    paths: list[str]
    modalities: list[Modality]
    hashes: list[str]
    sizes: list[int]
    mtimes: list[float]
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def take(self, rows: Sequence[int]) -> EmbeddingTable:
        """The table restricted to `rows`, in that order."""
        rows = list(rows)
        return EmbeddingTable(
            self.model_id,
            [self.paths[i] for i in rows],
            [self.modalities[i] for i in rows],
            [self.hashes[i] for i in rows],
            [self.sizes[i] for i in rows],
            [self.mtimes[i] for i in rows],
            self.vectors[rows] if rows else np.zeros((0, self.dim), np.float32),
        )

    @classmethod
    def empty(cls, model_id: str, dim: int) -> EmbeddingTable:
        return cls(model_id, [], [], [], [], [], np.zeros((0, dim), np.float32))

    @classmethod
    def concat(cls, model_id: str, dim: int, tables: Sequence[EmbeddingTable]) -> EmbeddingTable:
        """One table of all rows of `tables` (all of space `model_id`)."""
        tables = [t for t in tables if len(t)]
        if not tables:
            return cls.empty(model_id, dim)
        return cls(
            model_id,
            [p for t in tables for p in t.paths],
            [m for t in tables for m in t.modalities],
            [h for t in tables for h in t.hashes],
            [s for t in tables for s in t.sizes],
            [m for t in tables for m in t.mtimes],
            np.concatenate([t.vectors for t in tables]),
        )


def write_embeddings(path: str | Path, table: EmbeddingTable) -> None:
    """Write `table` to a Parquet file atomically (a reader sees the old file or the new one)."""
    pa = require("pyarrow", "index")
    pq = require("pyarrow.parquet", "index")
    dim = table.dim
    flat = pa.array(np.ascontiguousarray(table.vectors, np.float32).reshape(-1), pa.float32())
    columns = {
        "path": pa.array(table.paths, pa.string()),
        "modality": pa.array([m.value for m in table.modalities], pa.string()),
        "content_hash": pa.array(table.hashes, pa.string()),
        "size": pa.array(table.sizes, pa.int64()),
        "mtime": pa.array(table.mtimes, pa.float64()),
        "embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
    }
    metadata = {
        "openbind.model_id": table.model_id,
        "openbind.dim": str(dim),
        "openbind.normalized": "true",
        "openbind.version": __version__,
    }
    arrow = pa.table(columns).replace_schema_metadata(metadata)
    write_atomic(path, lambda f: pq.write_table(arrow, f))


def read_embeddings(path: str | Path, *, model_id: str | None = None) -> EmbeddingTable:
    """Read a file written by `write_embeddings` (or `openbind embed`).

    Args:
        path: the Parquet file.
        model_id: if given, refuse a file made with another space.

    Raises:
        BadInput: not a readable openbind embeddings file.
        IndexMismatch: made with another space than `model_id`.
    """
    pq = require("pyarrow.parquet", "index")
    try:
        arrow = pq.read_table(path)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ...
        raise BadInput(f"cannot read embeddings: {e}", source=str(path)) from e
    meta = {k.decode(): v.decode() for k, v in (arrow.schema.metadata or {}).items()}
    if "openbind.model_id" not in meta:
        raise BadInput("not an openbind embeddings file (no openbind.model_id)", source=str(path))
    found, dim = meta["openbind.model_id"], int(meta["openbind.dim"])
    if model_id is not None and model_id != found:
        raise IndexMismatch(
            f"{path} holds embeddings of {found} ({dim}-d), not {model_id}; "
            "write to another file or delete it"
        )
    vectors = arrow.column("embedding").combine_chunks().flatten().to_numpy()
    return EmbeddingTable(
        found,
        arrow.column("path").to_pylist(),
        [Modality(m) for m in arrow.column("modality").to_pylist()],
        arrow.column("content_hash").to_pylist(),
        arrow.column("size").to_pylist(),
        arrow.column("mtime").to_pylist(),
        vectors.astype(np.float32).reshape(-1, dim),
    )
