"""Conversions between `Embeddings`, numpy arrays and tensors, and the same-space check.

Example:
    >>> import numpy as np
    >>> emb = from_numpy(np.array([[3.0, 4.0]]), "text", "toy_space.v1")
    >>> emb.vectors.tolist()
    [[0.6000000238418457, 0.800000011920929]]
    >>> to_numpy({"text": emb})["text"].shape
    (1, 2)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from openbind.errors import BadInput, SpaceMismatch
from openbind.types import Embeddings, Modality


def from_numpy(
    vectors: np.ndarray | torch.Tensor, modality: Modality | str, model_id: str
) -> Embeddings:
    """Wrap (N, D) vectors (numpy or torch) as `Embeddings`, L2-normalising every row.

    Raises:
        BadInput: not 2-D, not finite, or a row of zero norm.
    """
    x = torch.as_tensor(np.asarray(vectors) if not isinstance(vectors, torch.Tensor) else vectors)
    x = x.detach().to("cpu", torch.float32)
    if x.ndim != 2:
        raise BadInput(f"vectors must be 2-D (N, D), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise BadInput("vectors contain NaN or infinite values")
    norms = x.norm(dim=1)
    if (norms == 0).any():
        raise BadInput(f"rows {torch.nonzero(norms == 0).flatten().tolist()} have zero norm")
    return Embeddings(F.normalize(x, dim=1), Modality.parse(modality), model_id)


def to_numpy(embeddings: Mapping[Modality | str, Embeddings]) -> dict[str, np.ndarray]:
    """The float32 (N, D) arrays of `space.encode`'s result, keyed by modality name."""
    return {Modality.parse(m).value: e.numpy() for m, e in embeddings.items()}


def check_same_space(*embeddings: Embeddings) -> None:
    """Raise `SpaceMismatch` unless all embeddings come from one space and have one dimension."""
    first = embeddings[0]
    for other in embeddings[1:]:
        if other.model_id != first.model_id or other.dim != first.dim:
            raise SpaceMismatch(
                f"cannot combine {first.modality.value} embeddings of {first.model_id} "
                f"({first.dim}-d) with {other.modality.value} embeddings of {other.model_id} "
                f"({other.dim}-d)"
            )


def take(embeddings: Embeddings, rows: int | slice | list[int]) -> Embeddings:
    """Some rows of `embeddings` as `Embeddings` of the same space (a single int keeps 2-D).

    Example:
        >>> emb = from_numpy(np.eye(3), "image", "toy_space.v1")
        >>> take(emb, 1).vectors.tolist()
        [[0.0, 1.0, 0.0]]
    """
    index = [rows] if isinstance(rows, int) else rows
    return Embeddings(embeddings.vectors[index], embeddings.modality, embeddings.model_id)
