"""float32 linear layers on oneDNN with the weights packed once (CPU inference).

`F.linear` repacks its weight for the GEMM kernel on every call; at the shapes of a ViT block
(a few hundred tokens × 1280 × 5120) oneDNN's kernel on a weight packed once ran 1.8x faster than
`F.linear` on an AVX2 EPYC (119 vs 67 GFLOP/s; `docs/speed.md`). Same float32 arithmetic, another
summation order (relative differences ~1e-6).

`prepack_blocks(module)` swaps every `nn.Linear` inside the transformer blocks (and the q/k/v
projection of `MultiheadAttention`) for `PackedLinear`, in place. The result is an inference-only
copy: packed weights are not in its state dict.
"""

from __future__ import annotations

import torch
from torch import nn

from openbind.nn.attention import MultiheadAttention
from openbind.nn.block import Block
from openbind.nn.fast import pack_weight, packed_linear, prepack_available

__all__ = ["PackedLinear", "PackedMultiheadAttention", "prepack_available", "prepack_blocks"]


class PackedLinear(nn.Module):
    """`y = x W^T + b` with W packed once for oneDNN (float32, CPU).

    Args:
        weight: (out, in) float32 weight.
        bias: (out,) bias or None.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        weight = weight.detach().float().contiguous()
        self._packed = pack_weight(weight)
        self.bias = None if bias is None else bias.detach().float().clone()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> PackedLinear:
        return cls(linear.weight, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return packed_linear(x, self._packed, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed"


class PackedMultiheadAttention(MultiheadAttention):
    """`MultiheadAttention` whose q/k/v and output projections are `PackedLinear`."""

    def __init__(self, attn: MultiheadAttention) -> None:
        nn.Module.__init__(self)
        self.num_heads = attn.num_heads
        self.in_proj = PackedLinear(attn.in_proj_weight, attn.in_proj_bias)
        self.in_proj_weight = None
        self.in_proj_bias = None
        self.bias_k = attn.bias_k
        self.bias_v = attn.bias_v
        self.out_proj = PackedLinear.from_linear(attn.out_proj)

    def project_in(self, x: torch.Tensor) -> torch.Tensor:
        return self.in_proj(x)


def prepack_blocks(module: nn.Module) -> nn.Module:
    """Swap the float32 linear layers of every `Block` in `module` for packed ones (in place).

    Raises:
        RuntimeError: torch has no oneDNN kernels (see `prepack_available`).
    """
    if not prepack_available():
        raise RuntimeError("this torch build has no oneDNN (mkldnn) linear kernels")
    for block in [m for m in module.modules() if isinstance(m, Block)]:
        for name, child in list(block.named_modules()):
            parent_name, _, attr = name.rpartition(".")
            parent = block.get_submodule(parent_name) if parent_name else block
            if type(child) is MultiheadAttention:
                setattr(parent, attr, PackedMultiheadAttention(child))
            elif type(child) is nn.Linear and name.split(".")[0] != "attn":
                setattr(parent, attr, PackedLinear.from_linear(child))
    return module
