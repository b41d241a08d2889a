"""Pre-norm transformer block: attention and MLP residual branches with drop path."""

from __future__ import annotations

import torch
from torch import nn

from openbind.nn.attention import MultiheadAttention
from openbind.nn.drop_path import DropPath
from openbind.nn.fast import Packing, pick_rows
from openbind.nn.mlp import Mlp


class Block(nn.Module):
    """`x + drop_path(attn(norm_1(x)))`, then `x + drop_path(mlp(norm_2(x)))`.

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over `dim`.
        drop_path: stochastic-depth probability of both branches (training only).
        add_bias_kv: give attention one learned extra key/value position.
        eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: int = 4,
        drop_path: float = 0.0,
        add_bias_kv: bool = False,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        # Registration order = checkpoint key order: attn, norm_1, mlp, norm_2.
        self.attn = MultiheadAttention(dim, num_heads, add_bias_kv=add_bias_kv)
        self.drop_path = DropPath(drop_path)
        self.norm_1 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_ratio * dim)
        self.norm_2 = nn.LayerNorm(dim, eps=eps)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        *,
        is_causal: bool = False,
        packing: Packing | None = None,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, L, D) -> (B, L, D); `attn_mask` is an optional (L, L) additive mask.

        `is_causal`, `packing` ((T, D) real tokens in, (T, D) out) and `rows` (only those (B,)
        positions out, (B, 1, D)) are the inference shortcuts of `openbind.nn.fast`.
        """
        h = self.attn(self.norm_1(x), attn_mask, is_causal=is_causal, packing=packing, rows=rows)
        if rows is not None:
            x = pick_rows(x, rows, packing)  # (B, 1, D)
        x = x + self.drop_path(h)
        return x + self.drop_path(self.mlp(self.norm_2(x)))
