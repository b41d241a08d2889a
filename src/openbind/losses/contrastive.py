"""Symmetric InfoNCE, the contrastive loss of CLIP, ImageBind and LanguageBind.

For a batch of N matched pairs (a_i, b_i) of L2-normalised embeddings, the logits are
`s * a @ b.T` with a temperature scale s, and the loss is the mean of the cross-entropy of each row
(a_i should pick b_i among all b) and of each column (b_i should pick a_i):

    L = (CE(s A B^T, I) + CE(s B A^T, I)) / 2

References:
    van den Oord et al., "Representation Learning with Contrastive Predictive Coding" (InfoNCE), 2018.
    Radford et al., "Learning Transferable Visual Models From Natural Language Supervision" (CLIP), 2021.
    Girdhar et al., "ImageBind: One Embedding Space To Bind Them All", CVPR 2023 (image-anchored pairs).
    Zhu et al., "LanguageBind", ICLR 2024 (language-anchored pairs, frozen text tower).

The temperature is either fixed (a float) or learnable: `LogitScale` (`openbind.nn.heads`, the one
home of the module) keeps log(s) as a parameter, initialised at log(1 / 0.07) and clamped at 100
as in CLIP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from openbind.losses.gather import AllGather, gather_with_grad
from openbind.nn.heads import LogitScale

__all__ = ["LogitScale", "clip_loss", "info_nce"]


def info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: float | torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of matched rows of `a` and `b`.

    Args:
        a: (N, D) L2-normalised embeddings; row i is paired with row i of `b`.
        b: (N, D) L2-normalised embeddings.
        logit_scale: the inverse temperature s (a float, or a 0-d tensor that may require grad).

    Returns:
        0-d tensor: mean of the a->b and b->a cross-entropies.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            f"info_nce needs two (N, D) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    logits = logit_scale * a.float() @ b.float().T  # (N, N)
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def clip_loss(
    a: torch.Tensor,
    b: torch.Tensor,
    logit_scale: float | torch.Tensor,
    *,
    rank: int = 0,
    world_size: int = 1,
    all_gather: AllGather | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE over the global batch of all ranks (every rank computes the same value).

    The local slices keep their gradients (`gather_with_grad`). Each rank therefore holds exactly the
    gradient of the global loss with respect to its own samples; since DDP *averages* gradients over
    ranks, the caller scales the loss by `world_size` before `backward` to get the single-process
    gradient of the same global batch.

    Args:
        a: (B, D) this rank's normalised embeddings of one modality.
        b: (B, D) this rank's normalised embeddings of the paired modality.
        logit_scale: the inverse temperature.
        rank: index of this process.
        world_size: number of processes (1: plain `info_nce`).
        all_gather: the collective (default `torch.distributed.all_gather`).

    Returns:
        0-d tensor: the loss of the (world_size * B) global batch.
    """
    a_all = gather_with_grad(a, rank=rank, world_size=world_size, all_gather=all_gather)  # (W*B, D)
    b_all = gather_with_grad(b, rank=rank, world_size=world_size, all_gather=all_gather)  # (W*B, D)
    return info_nce(a_all, b_all, logit_scale)
