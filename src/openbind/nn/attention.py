"""Multi-head self-attention with a packed input projection (Vaswani et al., 2017).

The parameter layout is that of `torch.nn.MultiheadAttention` (`in_proj_weight` with rows
[q; k; v], `in_proj_bias`, `out_proj`, optional `bias_k` / `bias_v`), so checkpoints written with
it load unchanged; the computation runs batch-first through `F.scaled_dot_product_attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openbind.nn.fast import Packing, apply_linear, causal_mask, causal_rows_mask, linear


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

    def project_in(self, x: torch.Tensor) -> torch.Tensor:
        """The packed q/k/v projection, (..., D) -> (..., 3D) (int8 models override it)."""
        return linear(x, self.in_proj_weight, self.in_proj_bias, self)  # packed in inference

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        *,
        is_causal: bool = False,
        packing: Packing | None = None,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend over the tokens of `x`.

        Args:
            x: (B, L, D) tokens, or (T, D) real tokens of a padded batch when `packing` is given
                (see `openbind.nn.fast`).
            attn_mask: optional (L, L) additive mask (0 to keep, -inf to block).
            is_causal: token i sees tokens <= i (instead of passing the causal `attn_mask`).
            packing: where the real tokens of `x` sit in a (B, L) grid; attention runs padded,
                the projections on the T real tokens only.
            rows: (B,) query positions: only these rows are computed (keys and values are
                still every token).

        Returns:
            (B, L, D); (T, D) when packed; (B, 1, D) for `rows`.
        """
        qkv = self.project_in(x)  # (B, L, 3D), rows [q; k; v]
        if packing is not None:
            qkv = packing.unpack(qkv)  # (T, 3D) -> (B, L, 3D)
        b, n, d3 = qkv.shape
        d = d3 // 3
        q, k, v = qkv.chunk(3, dim=-1)  # 3 x (B, L, D)
        extra = 0
        if self.bias_k is not None:
            k = torch.cat([k, self.bias_k.expand(b, 1, d).to(k.dtype)], dim=1)  # (B, L+1, D)
            v = torch.cat([v, self.bias_v.expand(b, 1, d).to(v.dtype)], dim=1)
            extra = 1
            if attn_mask is not None:
                attn_mask = F.pad(attn_mask, (0, 1))  # the extra key is never masked
        if rows is not None:
            q = q[torch.arange(b, device=q.device), rows].unsqueeze(1)  # (B, 1, D)
            if is_causal:
                attn_mask, is_causal = causal_rows_mask(rows, n, extra), False  # (B, 1, 1, L+e)
            elif attn_mask is not None:
                attn_mask = attn_mask[rows][:, None, None, :]  # (B, 1, 1, L+e)
        elif is_causal and extra:  # SDPA's causal mask would hide the extra key
            attn_mask, is_causal = causal_mask(n, extra, q.device), False
        if packing is not None and not is_causal and attn_mask is None:
            attn_mask = packing.key_mask()
            attn_mask = F.pad(attn_mask, (0, extra), value=True) if extra else attn_mask
        # (B, L, D) -> (B, H, L, D/H)
        q, k, v = (t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for t in (q, k, v))
        if attn_mask is not None and attn_mask.dtype != torch.bool:
            attn_mask = attn_mask.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        out = out.transpose(1, 2).flatten(2)  # (B, H, Lq, d) -> (B, Lq, D)
        if packing is not None and rows is None:
            out = packing.pack(out)  # (T, D)
        return apply_linear(self.out_proj, out)
