"""Gathering embeddings from every rank while keeping the gradient of the local slice.

Contrastive losses need the negatives of the whole global batch, but `torch.distributed.all_gather`
returns tensors without autograd history. As in open_clip (`gather_features`), each rank gathers
every slice and puts its own tensor back in place, so gradients flow into the local features; the
other ranks compute the gradients of their own slices. The process-group context (rank, world size
and the gather function) is always passed in, never read from global state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

AllGather = Callable[[list[torch.Tensor], torch.Tensor], object]
"""Fills a list of `world_size` tensors with every rank's tensor (`torch.distributed.all_gather`)."""


def gather_with_grad(
    local: torch.Tensor,
    *,
    rank: int,
    world_size: int,
    all_gather: AllGather | None = None,
) -> torch.Tensor:
    """Concatenate every rank's `local` tensor along dim 0; the local slice keeps its gradient.

    Args:
        local: this rank's (B, D) tensor. Every rank must hold the same shape.
        rank: index of this process in the group.
        world_size: number of processes; 1 returns `local` unchanged.
        all_gather: the collective to use; `torch.distributed.all_gather` when None.

    Returns:
        (world_size * B, D): rank r's rows are `[r * B, (r + 1) * B)`.
    """
    if world_size == 1:
        return local
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a group of {world_size}")
    gather = all_gather if all_gather is not None else torch.distributed.all_gather
    parts = [torch.empty_like(local) for _ in range(world_size)]
    gather(parts, local.detach().contiguous())
    parts[rank] = local  # the gathered copy has no autograd history; the original does
    return torch.cat(parts, dim=0)  # (W * B, D)
