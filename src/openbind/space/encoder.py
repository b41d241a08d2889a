"""`Encoder`: everything a space needs to embed one modality, in one object.

    item -> transform -> clips (S, ...) | {name: (S, ...)} -> collate (batch) -> tower -> (clips, D)
         -> pool (one row per item)

A transform returns the clips of one item: a tensor whose first axis counts the clips (video
windows, audio chunks; 1 for an image), or a mapping of such tensors (pixel values plus masks, token
ids plus an attention mask), so Hugging Face-style towers that take keyword inputs fit without
adapters: a mapping batch is passed to the tower as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Clips",
    "Collate",
    "Encoder",
    "OrderKey",
    "Pool",
    "Transform",
    "clip_count",
    "concat_clips",
]

import torch

from openbind.errors import BadInput
from openbind.preprocess.common import Clips, Collate, Transform
from openbind.space.pooling import pool_clips

OrderKey = Callable[[Any], float]
"""Cost of one raw item (e.g. a string's length): batches are formed longest first, so that items
of similar size share a batch (less padding); results return in input order."""

Pool = Callable[[torch.Tensor, list[int]], torch.Tensor]
"""(sum(counts), D) clip features and each item's clip count -> (items, D) unit vectors."""


def concat_clips(batch: list[Clips]) -> Clips:
    """The default collate: concatenate clips of one shape (per name, for mappings)."""
    if isinstance(batch[0], Mapping):
        return {k: concat_clips([b[k] for b in batch]) for k in batch[0]}
    shapes = {tuple(t.shape[1:]) for t in batch}
    if len(shapes) > 1:
        raise BadInput(f"items preprocess to different clip shapes {sorted(shapes)}")
    return torch.cat(batch)


def clip_count(clips: Clips) -> int:
    """How many clips an item's transform output holds (its first axis).

    Raises:
        BadInput: the output is not a tensor / mapping of tensors, has no clips, or its named tensors
            disagree on the number of clips.
    """
    tensors = list(clips.values()) if isinstance(clips, Mapping) else [clips]
    if not tensors or not all(isinstance(t, torch.Tensor) and t.ndim >= 1 for t in tensors):
        raise BadInput("preprocessing gave no clips")
    counts = {t.shape[0] for t in tensors}
    if len(counts) > 1 or 0 in counts:
        raise BadInput(f"preprocessing gave inconsistent clip counts {sorted(counts)}")
    return counts.pop()


@dataclass(frozen=True)
class Encoder:
    """How one modality is embedded.

    Attributes:
        tower: the model (`openbind.encoders.base.Tower`): (N, *clip_shape) -> (N, D) features, or
            keyword tensors when the transform gives a mapping.
        transform: item -> clips.
        collate: clips of a batch's items -> one tower input (default: concatenated).
        order_key: cost of a raw item; when given, batches are formed longest first.
        pool: clip features -> one unit vector per item (default: mean of unit clips, renormalised).

    Example:
        >>> Encoder(tower, ImageTransform(config))
    """

    tower: torch.nn.Module
    transform: Transform
    collate: Collate = concat_clips
    order_key: OrderKey | None = None
    pool: Pool = pool_clips

    def run(self, clips: Clips) -> torch.Tensor:
        """The tower on a collated batch, on the tower's device and dtype; (clips, D) float32 CPU."""
        p = next(self.tower.parameters(), None)
        if isinstance(clips, Mapping):
            out = self.tower(**{k: _to(v, p) for k, v in clips.items()})
        else:
            out = self.tower(_to(clips, p))
        return out.float().cpu()


def _to(x: torch.Tensor, p: torch.Tensor | None) -> torch.Tensor:
    if p is None:
        return x
    x = x.to(p.device)
    return x.to(p.dtype) if x.is_floating_point() else x
