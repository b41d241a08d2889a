"""The `VectorIndex` protocol every vector store follows, and its search result.

Vectors are float32 rows of one dimension; ids are caller-chosen int64 labels (>= 0). Scores
are inner products, which are cosine similarities for the L2-normalised embeddings openbind makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from openbind.errors import BadInput


@dataclass(frozen=True)
class Neighbours:
    """The k best matches of each query.

    Attributes:
        ids: (Q, k) int64 labels, best first; -1 where fewer than k vectors qualify.
        scores: (Q, k) float32 inner products; -inf where `ids` is -1.
    """

    ids: np.ndarray
    scores: np.ndarray


@runtime_checkable
class VectorIndex(Protocol):
    """A store of labelled vectors searched by inner product.

    Implementations: `FlatIndex` (exact), `HNSWIndex` (approximate, for large collections),
    `MilvusIndex` (a Milvus server or milvus-lite file).
    """

    kind: str
    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (N,) ids with their (N, D) vectors; an id already present raises `BadInput`."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors of `ids` (unknown ids are ignored); returns how many were removed."""
        ...

    def search(self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None) -> Neighbours:
        """The `k` best ids of each (Q, D) query; `allow` restricts the result to those ids."""
        ...

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored (N, D) vectors of `ids` (all present, else `BadInput`)."""
        ...

    def ids(self) -> np.ndarray:
        """All stored ids, (N,) int64."""
        ...

    def __len__(self) -> int: ...

    def save(self, path: str | Path) -> None:
        """Write the index to one file (not atomically: `Library` makes it so)."""
        ...


def as_matrix(x: object, dim: int, what: str) -> np.ndarray:
    """`x` as a C-contiguous float32 (N, dim) array of finite values.

    Raises:
        BadInput: wrong shape or non-finite values; the message says which.
    """
    if hasattr(x, "numpy") and hasattr(x, "vectors"):  # openbind.types.Embeddings
        x = x.numpy()
    elif hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise BadInput(f"{what} must have shape (N, {dim}), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise BadInput(f"{what} contain NaN or infinite values")
    return np.ascontiguousarray(arr)


def as_ids(x: object, what: str = "ids") -> np.ndarray:
    """`x` as a (N,) int64 array of non-negative labels."""
    arr = np.asarray(x)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise BadInput(f"{what} must be a 1-D sequence of integers, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise BadInput(f"{what} must be >= 0")
    return arr


def as_batch(ids: object, vectors: object, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked `(ids, vectors)` for `VectorIndex.add`: one unique id per (dim,)-vector."""
    ids = as_ids(ids)
    vectors = as_matrix(vectors, dim, "vectors")
    if len(ids) != len(vectors):
        raise BadInput(f"{len(ids)} ids for {len(vectors)} vectors")
    if len(np.unique(ids)) != len(ids):
        raise BadInput("ids to add contain duplicates")
    return ids, vectors
