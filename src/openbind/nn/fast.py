"""Inference shortcuts shared by the transformer blocks: skip work whose result is never read.

Three kinds of waste in a pooled transformer tower, removed here without changing its outputs
(up to float summation order):

* **Padding of causal sequences.** With a causal mask, token i only sees tokens <= i, so the
  tokens after the longest real sequence of a batch never influence a real one: the batch is
  truncated to that length (`trim_causal`). Shorter sequences are **packed**: the projections,
  MLPs and norms run on the real tokens only, (T, D) with T = sum of the lengths, and only
  attention sees the padded (B, L, D) layout (`Packing`).
* **Unread rows of the last block.** A head that reads one token per sequence (cls or
  end-of-text) needs the last block's attention output and MLP for that token only; keys and
  values still come from every token (`rows` of `Transformer.forward`, `pick_rows`).
* **Additive float masks.** A causal mask passed as `is_causal` lets
  `F.scaled_dot_product_attention` skip the masked half instead of adding -inf to it.

Used by `openbind.nn.transformer.Transformer` (`forward(..., packing=, rows=, is_causal=)`);
`pooled_forward` applies all three for any tower whose head reads one token per sequence
(ImageBind's towers through `run_tower_fast`; CLIP-style towers built on the same blocks, such as
LanguageBind's, by calling it in place of `trunk(tokens, mask)`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

PACK_BELOW = 0.9
"""Pack a batch when its real tokens fill less than this fraction of the padded (B, L) grid."""


@dataclass(frozen=True)
class Packing:
    """Where the real tokens of a right-padded (B, L) batch are.

    Attributes:
        lengths: (B,) real tokens per sequence (each >= 1).
        length: L, the padded length.
        index: (T,) flat positions `b * L + i` of the real tokens, in row-major order.
    """

    lengths: torch.Tensor
    length: int
    index: torch.Tensor

    @classmethod
    def from_lengths(cls, lengths: torch.Tensor, length: int | None = None) -> Packing:
        """Packing of sequences with these `lengths` padded to `length` (default: the longest)."""
        lengths = lengths.to(torch.long)
        length = int(lengths.max()) if length is None else length
        valid = torch.arange(length, device=lengths.device) < lengths[:, None]  # (B, L)
        return cls(lengths, length, valid.flatten().nonzero().squeeze(1))

    @property
    def batch(self) -> int:
        return self.lengths.shape[0]

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, ...) -> (T, ...) real tokens."""
        return x.flatten(0, 1).index_select(0, self.index)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(T, ...) -> (B, L, ...), zeros at the padded positions."""
        out = x.new_zeros((self.batch * self.length, *x.shape[1:]))
        return out.index_copy_(0, self.index, x).unflatten(0, (self.batch, self.length))

    def flat_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Packed positions (B,) of token `rows[b]` of each sequence b."""
        starts = torch.cumsum(self.lengths, 0) - self.lengths  # (B,)
        return starts + rows

    def key_mask(self) -> torch.Tensor:
        """(B, 1, 1, L) bool: True at real keys (for non-causal attention over a packed batch)."""
        valid = torch.arange(self.length, device=self.lengths.device) < self.lengths[:, None]
        return valid[:, None, None, :]


def maybe_pack(lengths: torch.Tensor, length: int) -> Packing | None:
    """A `Packing` when the real tokens fill less than `PACK_BELOW` of (B, L), else None."""
    if int(lengths.sum()) < PACK_BELOW * lengths.shape[0] * length:
        return Packing.from_lengths(lengths, length)
    return None


def pooled_forward(
    trunk: nn.Module,
    tokens: torch.Tensor,
    rows: torch.Tensor,
    *,
    attn_mask: torch.Tensor | None = None,
    causal_lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run a `Transformer` trunk for a head that reads one token per sequence, skipping the rest.

    Any tower whose head pools one token (ViT / CLIP vision: cls, `rows` = 0; CLIP text:
    end-of-text, `rows` = its positions) can call this instead of `trunk(tokens, attn_mask)`.

    Args:
        trunk: an `openbind.nn.transformer.Transformer` (or a module with its `forward`).
        tokens: (B, L, D) trunk input.
        rows: (B,) position of the token the head reads in each sequence.
        attn_mask: the additive mask the trunk would get (ignored with `causal_lengths`).
        causal_lengths: (B,) real tokens per sequence under a causal mask (e.g. rows + 1 for
            right-padded texts): the batch is cut after the longest and packed when padding is
            large (`maybe_pack`), attention runs with `is_causal`.

    Returns:
        (B, 1, D): the trunk output at `rows`, equal to `trunk(tokens, attn_mask)[b, rows[b]]`
        up to float summation order.
    """
    packing, is_causal = None, False
    if causal_lengths is not None:
        n = int(causal_lengths.max())
        tokens, attn_mask, is_causal = tokens[:, :n], None, True  # (B, n, D)
        packing = maybe_pack(causal_lengths, n)
        if packing is not None:
            tokens = packing.pack(tokens)  # (T, D)
    return trunk(tokens, attn_mask, is_causal=is_causal, packing=packing, rows=rows)


def pick_rows(x: torch.Tensor, rows: torch.Tensor, packing: Packing | None = None) -> torch.Tensor:
    """Token `rows[b]` of each sequence: (B, L, D) or packed (T, D) -> (B, 1, D)."""
    if packing is not None:
        return x.index_select(0, packing.flat_rows(rows)).unsqueeze(1)
    return x[torch.arange(x.shape[0], device=x.device), rows].unsqueeze(1)


def causal_rows_mask(rows: torch.Tensor, keys: int, extra: int = 0) -> torch.Tensor:
    """(B, 1, 1, keys + extra) bool mask of query `rows[b]` under a causal mask.

    Keys j <= rows[b] are visible; `extra` trailing keys (the learned `bias_k` position) always are.
    """
    visible = torch.arange(keys, device=rows.device) <= rows[:, None]  # (B, keys)
    if extra:
        visible = torch.cat([visible, visible.new_ones(rows.shape[0], extra)], dim=1)
    return visible[:, None, None, :]


def causal_mask(length: int, extra: int = 0, device: torch.device | None = None) -> torch.Tensor:
    """(L, L + extra) bool causal mask; `extra` trailing keys are always visible."""
    mask = torch.ones(length, length, dtype=torch.bool, device=device).tril_()
    if extra:
        mask = torch.cat([mask, mask.new_ones(length, extra)], dim=1)
    return mask


def is_causal_mask(mask: torch.Tensor | None) -> bool:
    """Whether an (L, L) additive float mask is exactly the causal one (-inf above the diagonal)."""
    if mask is None or mask.ndim != 2 or mask.shape[0] != mask.shape[1] or mask.dtype == torch.bool:
        return False
    upper = torch.ones_like(mask, dtype=torch.bool).triu_(1)
    return bool(torch.isneginf(mask[upper]).all()) and bool((mask[~upper] == 0).all())
