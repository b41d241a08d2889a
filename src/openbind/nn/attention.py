"""Multi-head self-attention with a packed input projection (Vaswani et al., 2017).

The parameter layout is that of `torch.nn.MultiheadAttention` (`in_proj_weight` with rows
[q; k; v], `in_proj_bias`, `out_proj`, optional `bias_k` / `bias_v`), so checkpoints written with
it load unchanged; the computation runs batch-first through `F.scaled_dot_product_attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MultiheadAttention(nn.Module):
    """Self-attention over (B, L, D) tokens.

    Args:
        dim: token width D.
        num_heads: number of heads; D must be divisible by it.
        bias: whether the input and output projections have biases.
        add_bias_kv: learn one extra key and value (`bias_k`, `bias_v`, each (1, 1, D)) that every
            query also attends to; it is appended after the projection as position L.
    """

    def __init__(
        self, dim: int, num_heads: int, *, bias: bool = True, add_bias_kv: bool = False
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim)) if bias else None
        self.bias_k = nn.Parameter(torch.empty(1, 1, dim)) if add_bias_kv else None
        self.bias_v = nn.Parameter(torch.empty(1, 1, dim)) if add_bias_kv else None
        self.out_proj = nn.Linear(dim, dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections and zero biases, as `torch.nn.MultiheadAttention` does."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            nn.init.xavier_normal_(self.bias_k)
            nn.init.xavier_normal_(self.bias_v)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend over the tokens of `x`.

        Args:
            x: (B, L, D) tokens.
            attn_mask: optional (L, L) additive mask (0 to keep, -inf to block), e.g. causal.

        Returns:
            (B, L, D).
        """
        b, n, d = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, L, 3D), rows [q; k; v]
        q, k, v = qkv.chunk(3, dim=-1)  # 3 x (B, L, D)
        if self.bias_k is not None:
            k = torch.cat([k, self.bias_k.expand(b, 1, d)], dim=1)  # (B, L+1, D)
            v = torch.cat([v, self.bias_v.expand(b, 1, d)], dim=1)
            if attn_mask is not None:
                attn_mask = F.pad(attn_mask, (0, 1))  # the extra key is never masked
        # (B, L, D) -> (B, H, L, D/H)
        q, k, v = (t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for t in (q, k, v))
        if attn_mask is not None:
            attn_mask = attn_mask.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, L, d)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))  # (B, L, D)
