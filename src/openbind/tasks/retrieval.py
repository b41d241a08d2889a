"""Any-to-any retrieval: the top-k candidates of each query by cosine similarity.

Example:
    >>> import openbind as ob
    >>> space = ob.load("starter")
    >>> images = space.encode("image", ["cat.jpg", "coffee.jpg"])
    >>> hits = retrieve(space.encode("text", ["a cup of coffee"]), images, k=1)
    >>> hits.indices.tolist()
    [[1]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from openbind.errors import BadInput
from openbind.space.convert import check_same_space
from openbind.types import Embeddings


@dataclass(frozen=True)
class RetrievalResult:
    """The best candidates of each query.

    Attributes:
        indices: (Q, k) candidate positions, best first.
        scores: (Q, k) their cosine similarities.
        score_kind: always "cosine" here.
    """

    indices: torch.Tensor
    scores: torch.Tensor
    score_kind: Literal["cosine"] = "cosine"

    def hits(self, query: int = 0) -> list[tuple[int, float]]:
        """(candidate position, score) pairs of one query, best first."""
        return list(zip(self.indices[query].tolist(), self.scores[query].tolist(), strict=True))


def retrieve(queries: Embeddings, candidates: Embeddings, k: int = 10) -> RetrievalResult:
    """The k most similar candidates of each query (k is capped at the number of candidates).

    Raises:
        BadInput: k < 1, or no queries or candidates.
        SpaceMismatch: queries and candidates come from different spaces or dimensions.
    """
    if k < 1:
        raise BadInput(f"k must be >= 1, got {k}")
    if len(queries) == 0 or len(candidates) == 0:
        raise BadInput(
            f"retrieval needs queries and candidates, got {len(queries)} and {len(candidates)}"
        )
    check_same_space(queries, candidates)
    sims = queries.vectors @ candidates.vectors.T  # (Q, M)
    scores, indices = sims.topk(min(k, len(candidates)), dim=1)
    return RetrievalResult(indices, scores)
