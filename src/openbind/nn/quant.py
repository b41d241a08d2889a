"""Dynamic int8 linear layers for CPU inference (weights int8 per output channel, activations
quantised per call), on PyTorch's fbgemm / x86 kernels (`torch.ops.quantized.linear_dynamic`).

Jacob et al., 2018, "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-
Only Inference". The deprecated `torch.ao.quantization` module API is not used; the kernels are
called directly (their quantised weight tensor is still made with `torch.quantize_per_channel`,
deprecated in torch 2.13 as well; `torch._int_mm` has no fast CPU kernel, measured 40x slower
than float32). Each int8 layer keeps its float bias; the output is float32.

`quantize_blocks(module)` swaps every `nn.Linear` inside the transformer blocks of `module`
(attention projections and MLPs, `openbind.nn.block.Block`) for `Int8Linear`, and every
`MultiheadAttention` for `Int8MultiheadAttention`; stems, heads and norms stay float. The result
is an inference-only copy: its state dict is not the checkpoint's.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from openbind.nn.attention import MultiheadAttention
from openbind.nn.block import Block

ENGINES = ("x86", "fbgemm", "onednn")
"""Quantised engines with dynamic int8 linear kernels on x86 CPUs, in order of preference."""


def int8_engine() -> str | None:
    """The quantised engine to use on this machine, or None when torch has none of `ENGINES`."""
    supported = set(torch.backends.quantized.supported_engines)
    return next((e for e in ENGINES if e in supported), None)


class Int8Linear(nn.Module):
    """`y = x W^T + b` with W int8 per output channel and x quantised to uint8 per call.

    Args:
        weight: (out, in) float weight.
        bias: (out,) float bias or None.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        weight = weight.detach().float().cpu()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0  # (out,)
        zero = torch.zeros_like(scale, dtype=torch.long)
        with warnings.catch_warnings():  # quantised tensor creation is deprecated in torch 2.13
            warnings.simplefilter("ignore", UserWarning)
            qweight = torch.quantize_per_channel(weight, scale, zero, 0, torch.qint8)
        b = None if bias is None else bias.detach().float().cpu()
        self._packed = torch.ops.quantized.linear_prepack(qweight, b)
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        return cls(linear.weight, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1]).float().contiguous()
        y = torch.ops.quantized.linear_dynamic(x, self._packed, True)  # reduce_range: no overflow
        return y.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class Int8MultiheadAttention(MultiheadAttention):
    """`MultiheadAttention` whose q/k/v and output projections are `Int8Linear`."""

    def __init__(self, attn: MultiheadAttention) -> None:
        nn.Module.__init__(self)
        self.num_heads = attn.num_heads
        self.in_proj = Int8Linear(attn.in_proj_weight, attn.in_proj_bias)
        self.in_proj_weight = None
        self.in_proj_bias = None
        self.bias_k = attn.bias_k
        self.bias_v = attn.bias_v
        self.out_proj = Int8Linear.from_linear(attn.out_proj)

    def project_in(self, x: torch.Tensor) -> torch.Tensor:
        return self.in_proj(x)


def quantize_blocks(module: nn.Module) -> nn.Module:
    """Swap the linear layers of every `Block` in `module` for int8 ones (in place); returns it.

    Raises:
        RuntimeError: torch has no x86 quantised engine (see `int8_engine`).
    """
    engine = int8_engine()
    if engine is None:
        raise RuntimeError("this torch build has no x86 int8 kernels (fbgemm / onednn)")
    torch.backends.quantized.engine = engine
    for block in [m for m in module.modules() if isinstance(m, Block)]:
        for name, child in list(block.named_modules()):
            parent_name, _, attr = name.rpartition(".")
            parent = block.get_submodule(parent_name) if parent_name else block
            if isinstance(child, MultiheadAttention) and not isinstance(
                child, Int8MultiheadAttention
            ):
                setattr(parent, attr, Int8MultiheadAttention(child))
            elif isinstance(child, nn.Linear) and not _inside_attention(name):
                setattr(parent, attr, Int8Linear.from_linear(child))
    return module


def _inside_attention(name: str) -> bool:
    return name.split(".")[0] == "attn"
