"""Learnable positional embeddings, with bicubic resizing for square patch grids (ViT, §3.2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LearnedPosEmbed(nn.Module):
    """Add a learned (1, L, D) table to tokens that start with `num_prefix` non-patch tokens.

    When the input has another number of patches than the table (a vision input of a different
    square size), the patch part of the table is resized bicubically; see `resize_pos_embed`.

    Args:
        num_tokens: L, prefix tokens included.
        dim: D.
        num_prefix: leading tokens (e.g. the cls token) that keep their own embedding.
    """

    def __init__(self, num_tokens: int, dim: int, *, num_prefix: int = 1) -> None:
        super().__init__()
        self.num_prefix = num_prefix
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L', D) -> (B, L', D) with positions added."""
        return tokens + resize_pos_embed(self.pos_embed, tokens.shape[1], self.num_prefix)


def resize_pos_embed(pos_embed: torch.Tensor, num_tokens: int, num_prefix: int = 1) -> torch.Tensor:
    """Resize the square patch grid of a (1, P + n*n, D) table to hold `num_tokens` tokens.

    The grid is interpolated bicubically with scale factor sqrt(new / old) (computed in float32);
    the `num_prefix` leading embeddings are kept as they are.

    Raises:
        ValueError: the old or new number of patches is not a square.
    """
    if pos_embed.shape[1] == num_tokens:
        return pos_embed
    old = pos_embed.shape[1] - num_prefix
    new = num_tokens - num_prefix
    side = math.isqrt(old)
    if side * side != old or math.isqrt(new) ** 2 != new:
        raise ValueError(f"cannot resize positions of {old} patches to {new}: grids must be square")
    prefix, grid = pos_embed[:, :num_prefix], pos_embed[:, num_prefix:]
    grid = grid.float().reshape(1, side, side, -1).permute(0, 3, 1, 2)  # (1, D, n, n)
    grid = F.interpolate(grid, scale_factor=math.sqrt(new / old), mode="bicubic")  # (1, D, m, m)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new, -1).to(pos_embed.dtype)  # (1, m*m, D)
    return torch.cat([prefix, grid], dim=1)


def prepend_tokens(tokens: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """Put learned (1, K, D) tokens (e.g. a cls token) in front of (B, N, D) tokens -> (B, K+N, D)."""
    return torch.cat([extra.expand(tokens.shape[0], -1, -1), tokens], dim=1)


def resize_pos_grid(
    table: torch.Tensor,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
    *,
    num_prefix: int = 1,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize the (rows x columns) patch grid of a (prefix + R*C, D) position table.

    Bicubic, `align_corners=False`, to an explicit grid that need not be square (LanguageBind's
    audio tower: CLIP's 16 x 16 to 8 mel rows x 74 time columns, antialiased). Patches are in
    row-major order; the `num_prefix` leading rows (the class token) are kept.

    Raises:
        ValueError: the table does not have `num_prefix + rows * columns` rows.
    """
    rows, cols = old_grid
    if table.shape[0] != num_prefix + rows * cols:
        raise ValueError(
            f"a table of {table.shape[0]} rows is not {num_prefix} + {rows} x {cols} positions"
        )
    prefix, grid = table[:num_prefix], table[num_prefix:]
    grid = grid.float().reshape(1, rows, cols, -1).permute(0, 3, 1, 2)  # (1, D, R, C)
    grid = F.interpolate(
        grid, size=tuple(new_grid), mode="bicubic", align_corners=False, antialias=antialias
    )
    grid = grid.permute(0, 2, 3, 1).reshape(-1, table.shape[1]).to(table.dtype)  # (R'*C', D)
    return torch.cat([prefix, grid])
