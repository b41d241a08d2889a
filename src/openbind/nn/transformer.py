"""A stack of pre-norm blocks with progressive drop path and an optional input LayerNorm.

Attribute names (`pre_transformer_layer.0`, `blocks.<i>`) follow the ImageBind checkpoint layout,
which openbind keeps as its public key scheme for this trunk.
"""

from __future__ import annotations

import torch
from torch import nn

from openbind.nn.block import Block
from openbind.nn.fast import Packing


def progressive_rates(max_rate: float, depth: int) -> list[float]:
    """Drop-path probability of each block: evenly spaced from 0 to `max_rate` (float32 steps)."""
    return torch.linspace(0.0, max_rate, depth, device="cpu").tolist()


class Transformer(nn.Module):
    """Transformer trunk over (B, L, D) tokens (no final norm: the head has one).

    Args:
        dim: token width.
        depth: number of blocks.
        num_heads: attention heads per block.
        drop_path: drop-path probability of the last block; earlier blocks get linearly less.
        add_bias_kv: blocks attend to one learned extra key/value position.
        pre_norm: apply a LayerNorm to the tokens before the first block.
        eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        *,
        drop_path: float = 0.0,
        add_bias_kv: bool = False,
        pre_norm: bool = False,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.pre_transformer_layer = (
            nn.Sequential(nn.LayerNorm(dim, eps=eps)) if pre_norm else nn.Identity()
        )
        self.blocks = nn.ModuleList(
            Block(dim, num_heads, drop_path=rate, add_bias_kv=add_bias_kv, eps=eps)
            for rate in progressive_rates(drop_path, depth)
        )

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

        Inference shortcuts (`openbind.nn.fast`): `is_causal` instead of a causal `attn_mask`;
        `packing` runs every block on the (T, D) real tokens of a padded batch (input and output
        packed); `rows` (B,) makes the last block compute only those positions, (B, 1, D) out.
        """
        x = self.pre_transformer_layer(x)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(
                x,
                attn_mask,
                is_causal=is_causal,
                packing=packing,
                rows=rows if i == last else None,
            )
        return x
