"""Pooling of clip embeddings into one embedding per item (video clips, audio windows)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pool_clips(clips: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Mean of the L2-normalised clip embeddings of each item, renormalised.

    Args:
        clips: (sum(counts), D) raw clip features.
        counts: number of clips of each item, in order.

    Returns:
        (len(counts), D) unit vectors.

    The ImageBind reference averages normalised *and logit-scaled* clip vectors without
    renormalising; its direction equals this result exactly, only the norm differs (see
    `openbind.zoo.imagebind` for the parity forward that keeps the reference's norms).
    """
    unit = F.normalize(clips.float(), dim=-1)
    if all(c == 1 for c in counts):
        return unit
    return F.normalize(clip_sums(unit, counts), dim=-1)


def clip_sums(clips: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Sum of the clip rows of each item: (sum(counts), D) -> (len(counts), D)."""
    index = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    sums = torch.zeros(len(counts), clips.shape[1], dtype=clips.dtype)
    return sums.index_add_(0, index, clips)
