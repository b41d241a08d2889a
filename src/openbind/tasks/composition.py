"""Query composition by embedding arithmetic: weighted sums of unit vectors, renormalised.

ImageBind (Girdhar et al., 2023, arXiv:2305.05665, section 4.3) adds an image and an audio
embedding to retrieve images that show both; negative weights subtract a concept.

Example:
    >>> import openbind as ob
    >>> space = ob.load("starter")
    >>> emb = space.encode({"image": ["beach.jpg"], "text": ["a dog"]})
    >>> query = compose([emb["image"], emb["text"]], weights=[1.0, 0.5])
    >>> query.dim
    384
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from openbind.errors import BadInput
from openbind.space.convert import check_same_space
from openbind.types import Embeddings


def compose(parts: Sequence[Embeddings], weights: Sequence[float] | None = None) -> Embeddings:
    """The normalised weighted sum of embeddings row by row (a part with one row is broadcast).

    The result carries the modality of the first part.

    Args:
        parts: embeddings of one space, each with N rows or 1 row.
        weights: one per part (default: all 1.0).

    Raises:
        BadInput: no parts, weights of another length, row counts that do not broadcast, or a
            sum that is zero (e.g. a vector minus itself).
        SpaceMismatch: parts from different spaces or dimensions.
    """
    if not parts:
        raise BadInput("compose needs at least one embedding")
    weights = [1.0] * len(parts) if weights is None else list(weights)
    if len(weights) != len(parts):
        raise BadInput(f"{len(parts)} parts need {len(parts)} weights, got {len(weights)}")
    check_same_space(*parts)
    rows = {len(p) for p in parts} - {1}
    if len(rows) > 1 or any(len(p) == 0 for p in parts):
        raise BadInput(f"parts must have N rows or 1 row each, got {[len(p) for p in parts]}")
    total = sum(w * p.vectors for w, p in zip(weights, parts, strict=True))  # (N, D)
    if not isinstance(total, torch.Tensor) or (total.norm(dim=1) < 1e-6).any():
        raise BadInput("the weighted sum is zero; the parts cancel out")
    return Embeddings(F.normalize(total, dim=1), parts[0].modality, parts[0].model_id)
