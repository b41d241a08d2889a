"""Similarity matrices between two sets of embeddings of one space.

Example:
    >>> import openbind as ob
    >>> space = ob.load("starter")
    >>> emb = space.encode({"text": ["a cat", "a kitten", "a truck"]})
    >>> sim = similarity(emb["text"])
    >>> sim.matrix.shape
    torch.Size([3, 3])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from openbind.errors import BadInput
from openbind.space.convert import check_same_space
from openbind.types import Embeddings


@dataclass(frozen=True)
class SimilarityResult:
    """An (N, M) score matrix and what its numbers mean.

    Attributes:
        matrix: (N, M) cosines, or cosines times `logit_scale` for "logit".
        score_kind: "cosine" or "logit".
        logit_scale: the factor applied to the cosines (1.0 for "cosine").
    """

    matrix: torch.Tensor
    score_kind: Literal["cosine", "logit"]
    logit_scale: float = 1.0

    def softmax(self, dim: int = 1) -> torch.Tensor:
        """Probabilities along `dim` (1: over columns for each row)."""
        return self.matrix.softmax(dim=dim)


def similarity(
    a: Embeddings, b: Embeddings | None = None, *, logit_scale: float | None = None
) -> SimilarityResult:
    """Cosine similarities of every row of `a` with every row of `b` (default: `a` itself).

    Args:
        a: (N, D) embeddings.
        b: (M, D) embeddings of the same space.
        logit_scale: if given, scores are logits `cosine * logit_scale` (e.g. `space.logit_scale("image")`).

    Raises:
        BadInput: empty embeddings or a non-positive logit scale.
        SpaceMismatch: `a` and `b` come from different spaces or dimensions.
    """
    b = a if b is None else b
    if len(a) == 0 or len(b) == 0:
        raise BadInput(f"similarity needs non-empty embeddings, got {len(a)} and {len(b)} rows")
    check_same_space(a, b)
    matrix = a.vectors @ b.vectors.T  # (N, M)
    if logit_scale is None:
        return SimilarityResult(matrix, "cosine")
    if logit_scale <= 0:
        raise BadInput(f"logit_scale must be > 0, got {logit_scale}")
    return SimilarityResult(matrix * logit_scale, "logit", logit_scale)
