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
* **Repacking the weights on every call.** `F.linear` hands its weight to a GEMM that copies it
  into the kernel's blocked layout on every call. In inference (no autograd, module in eval mode,
  float32 on a CPU with oneDNN) the block linears run through `linear`, which packs each weight
  once for oneDNN and keeps that copy beside the parameter (the parameter, the state dict and
  `load_state_dict` are unchanged). The copy is remade when the weight changes (its version
  counter, storage or shape) and dropped when the module is back in training. Weights
  memory-mapped from a checkpoint (openbind's loaders) cost nothing extra: once packed, their
  file pages are handed back to the kernel (`madvise(MADV_PAGEOUT)` on Linux, a hint that keeps
  the contents: a later read, e.g. `state_dict()`, pages them in again). Weights in anonymous
  memory (random init, converted dtypes) keep both copies: the packed copy then costs the size
  of the block weights. `set_lazy_prepack(False)` turns it off.

Used by `openbind.nn.transformer.Transformer` (`forward(..., packing=, rows=, is_causal=)`);
`pooled_forward` applies all three for any tower whose head reads one token per sequence
(ImageBind's towers through `run_tower_fast`; CLIP-style towers built on the same blocks, such as
LanguageBind's, by calling it in place of `trunk(tokens, mask)`).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_LAZY_PREPACK = True
_Entry = tuple[tuple[int, int, torch.Size], torch.Tensor, torch.Tensor]
_PACKED: weakref.WeakKeyDictionary[nn.Module, _Entry] = weakref.WeakKeyDictionary()
"""Per module: the (address, version, shape) of the weight a packed oneDNN copy was made of, the
copy, and an alias of that weight (it keeps the storage alive, so that a new weight can never
reuse its address: `.to()` and `.data =` swap storages without moving the version counter)."""

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


def prepack_available() -> bool:
    """Whether this torch has oneDNN (mkldnn) linear kernels."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def set_lazy_prepack(enabled: bool) -> bool:
    """Turn the packed weight copies of `linear` on or off (process-wide); returns the old value.

    Off, every block linear calls `F.linear`; copies made before stay until `drop_packed`.
    """
    global _LAZY_PREPACK
    old, _LAZY_PREPACK = _LAZY_PREPACK, bool(enabled)
    return old


def drop_packed(module: nn.Module | None = None) -> None:
    """Free the packed weight copies of `module`'s submodules (all modules' with None)."""
    if module is None:
        _PACKED.clear()
        return
    for m in module.modules():
        _PACKED.pop(m, None)


def packed_bytes() -> int:
    """Bytes held by the packed weight copies of `linear` (all modules)."""
    return sum(e[1].numel() * e[1].element_size() for e in list(_PACKED.values()))


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, owner: nn.Module
) -> torch.Tensor:
    """`F.linear(x, weight, bias)`, on a copy of `weight` packed once when that is safe.

    The packed path runs when: lazy prepacking is on, `owner` (the module holding `weight` as a
    plain `nn.Parameter`) is in eval mode, autograd is off (`torch.no_grad` /
    `torch.inference_mode`), nothing traces or compiles, and `x`, `weight` are float32 on a CPU
    with oneDNN. Otherwise, and for parametrized weights (LoRA), it is `F.linear`.

    Args:
        x: (..., in) input.
        weight: (out, in) weight, an attribute of `owner`.
        bias: (out,) or None.
        owner: the module whose weight this is (one packed copy per module).
    """
    if torch.compiler.is_compiling():
        return F.linear(x, weight, bias)
    if owner.training or torch.is_grad_enabled():
        if owner in _PACKED:
            del _PACKED[owner]  # training again: the copy would go stale and costs memory
        return F.linear(x, weight, bias)
    if not (
        _LAZY_PREPACK
        and isinstance(weight, nn.Parameter)
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.device.type == "cpu"
        and weight.device.type == "cpu"
        and weight.layout == torch.strided
        and (bias is None or bias.dtype == torch.float32)
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.onnx.is_in_onnx_export()
        and prepack_available()
    ):
        return F.linear(x, weight, bias)
    try:
        key = (weight.data_ptr(), weight._version, weight.shape)
    except RuntimeError:  # an inference tensor has no version counter
        return F.linear(x, weight, bias)
    entry = _PACKED.get(owner)
    if entry is None or entry[0] != key:
        plain = weight.detach()
        packed = pack_weight(plain)
        entry = _PACKED[owner] = (key, packed, plain)
        page_out(weight)  # memory-mapped weights: the plain pages are not read again
    return packed_linear(x, entry[1], bias)


def pack_weight(weight: torch.Tensor) -> torch.Tensor:
    """A float32 (out, in) weight in oneDNN's blocked layout (see `prepack_available`)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), None)


def packed_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`x W^T + b` with `packed` = `pack_weight(W)`."""
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), packed, bias, "none", [], "")


def apply_linear(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`module(x)`, through `linear` when `module` is a plain `nn.Linear`."""
    if type(module) is nn.Linear:
        return linear(x, module.weight, module.bias, module)
    return module(x)


_MADV_PAGEOUT = 21


@functools.cache
def _madvise() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def page_out(t: torch.Tensor) -> bool:
    """Hint the kernel to reclaim the pages wholly inside `t`'s memory (Linux `MADV_PAGEOUT`).

    Contents are kept: file-backed pages (a memory-mapped checkpoint) are dropped and read
    again on the next access; anonymous pages go to swap if there is any, else stay. Returns
    whether the hint was given (False off Linux, on old kernels or for tensors under a page).
    """
    fn = _madvise()
    if fn is None or t.device.type != "cpu" or t.layout != torch.strided:
        return False
    page = os.sysconf("SC_PAGESIZE")
    addr, size = t.data_ptr(), t.numel() * t.element_size()
    start, end = -(-addr // page) * page, (addr + size) // page * page
    return end > start and fn(start, end - start, _MADV_PAGEOUT) == 0
