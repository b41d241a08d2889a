"""Low-rank adaptation (LoRA) of linear projections, including fused q/k/v projections.

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021; LanguageBind trains its
modality towers this way against a frozen text tower.

Two adapters, both computing `W + (alpha / r) * B @ A` for the adapted weight `W`:

- `LoRALinear` *is* an `nn.Linear` (same `weight`/`bias` names) plus `lora_a` (r, in) and
  `lora_b` (out, r);
- `QKVLoRA` adapts the fused `in_proj_weight` (3D, D) of `openbind.nn.attention.MultiheadAttention`
  (rows [q; k; v]) with one adapter per part, `lora_a` = [A_q; A_k; A_v] (3r, D) and
  `lora_b` = [B_q; B_k; B_v] (3D, r), as a
  `torch.nn.utils.parametrize` parametrization: the attention's forward is unchanged, it simply
  reads the adapted weight. Separate q/k/v adapters are what peft puts on Hugging Face CLIP's
  `q_proj`/`k_proj`/`v_proj`, so such checkpoints load into the fused layout exactly.

`add_lora` freezes a module and adds adapters by child name. `merge_adapters` / `unmerge_adapters`
add / subtract each update to / from its weight in place, keeping the adapters (a merged adapter
adds nothing at forward; unmerging restores the weights up to float rounding); `merge_lora`
folds every adapter into its weight and removes it, restoring the plain modules, so the state-dict keys are exactly those of the
module without adapters (state-dict keys are public API). `fold_lora` does the same for tensors
of a checkpoint (merging at load). openbind uses its own small adapters rather than `peft`, which
would rename keys (`base_model.model.….base_layer.weight`) and add a dependency.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize

from openbind.nn.attention import MultiheadAttention

__all__ = [
    "IN_PROJ",
    "LoRALinear",
    "QKVLoRA",
    "add_lora",
    "fold_lora",
    "lora_modules",
    "merge_adapters",
    "merge_lora",
    "unmerge_adapters",
]

IN_PROJ = "in_proj"
"""Target name of the fused q/k/v projection of every `MultiheadAttention` (`add_lora`)."""


def fold_lora(
    weight: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, scale: float
) -> torch.Tensor:
    """`weight + scale * lora_b @ lora_a` in float32, cast back to `weight`'s dtype.

    Args:
        weight: (out, in).
        lora_a: (r, in).
        lora_b: (out, r).
        scale: alpha / r.
    """
    delta = lora_b.float() @ lora_a.float()  # (out, in)
    return (weight.float() + scale * delta).to(weight.dtype)


class LoRALinear(nn.Linear):
    """A frozen linear layer plus a trainable low-rank update: y = x W^T + b + s * x A^T B^T.

    `B` starts at zero, so the adapted layer starts equal to the original one.

    Args:
        base: the layer to adapt (its weights are copied, frozen).
        rank: r > 0.
        alpha: the update is scaled by alpha / r.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        super().__init__(base.in_features, base.out_features, bias=base.bias is not None, **factory)
        self.weight = nn.Parameter(base.weight.detach().clone(), requires_grad=False)
        if base.bias is not None:
            self.bias = nn.Parameter(base.bias.detach().clone(), requires_grad=False)
        self.scale = alpha / rank
        self.merged = False
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, **factory))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, **factory))
        if not self.lora_a.is_meta:
            nn.init.kaiming_uniform_(self.lora_a, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return super().forward(x)
        return super().forward(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def delta(self) -> torch.Tensor:
        """The (out, in) update `scale * B @ A`."""
        return (self.lora_b @ self.lora_a) * self.scale

    def merged_linear(self) -> nn.Linear:
        """A plain `nn.Linear` with the update folded into its weight."""
        out = nn.Linear(
            self.in_features,
            self.out_features,
            bias=self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(fold_lora(self.weight, self.lora_a, self.lora_b, self.scale))
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out


class QKVLoRA(nn.Module):
    """Parametrization of a fused (3D, D) [q; k; v] weight: part i gets `s * B_i @ A_i` added.

    Args:
        dim: D.
        rank: r > 0.
        alpha: the update is scaled by alpha / r.
        device: where the adapter lives.
        dtype: adapter dtype.
    """

    def __init__(
        self,
        dim: int,
        rank: int,
        alpha: float,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.scale = alpha / rank
        self.merged = False
        self.rank = rank
        self.lora_a = nn.Parameter(torch.empty(3 * rank, dim, device=device, dtype=dtype))
        self.lora_b = nn.Parameter(torch.zeros(3 * dim, rank, device=device, dtype=dtype))
        if not self.lora_a.is_meta:
            for a in self.lora_a.view(3, rank, dim):
                nn.init.kaiming_uniform_(a, a=5**0.5)

    def delta(self) -> torch.Tensor:
        """The (3D, D) update: rows of part i are `scale * B_i @ A_i`."""
        d = self.lora_a.shape[1]
        a = self.lora_a.view(3, self.rank, d)  # (3, r, D)
        b = self.lora_b.view(3, d, self.rank)  # (3, D, r)
        return torch.bmm(b, a).flatten(0, 1) * self.scale  # (3, D, D) -> (3D, D)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return weight
        return weight + self.delta().to(weight.dtype)


def add_lora(module: nn.Module, targets: Iterable[str], rank: int, alpha: float) -> int:
    """Freeze `module` and put adapters on the projections named in `targets`.

    Args:
        module: the tower.
        targets: names matched against the last part of each `nn.Linear` child's name (e.g.
            "out_proj", "fc1"); `IN_PROJ` ("in_proj") adapts the fused q/k/v projection of every
            `MultiheadAttention`.
        rank: adapter rank (> 0).
        alpha: update scale numerator.

    Returns:
        How many projections got adapters.

    Raises:
        ValueError: nothing matched `targets` (the linear names present are listed).
    """
    targets = set(targets)
    for p in module.parameters():
        p.requires_grad_(False)
    replaced = 0
    linear_names: set[str] = set()
    for parent in list(module.modules()):
        if (
            IN_PROJ in targets
            and isinstance(parent, MultiheadAttention)
            and not parametrize.is_parametrized(parent, "in_proj_weight")
        ):
            w = parent.in_proj_weight
            adapter = QKVLoRA(w.shape[1], rank, alpha, device=w.device, dtype=w.dtype)
            parametrize.register_parametrization(parent, "in_proj_weight", adapter)
            replaced += 1
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and not isinstance(child, LoRALinear):
                linear_names.add(name)
                if name in targets:
                    setattr(parent, name, LoRALinear(child, rank, alpha))
                    replaced += 1
    if not replaced:
        raise ValueError(
            f"no projection named {sorted(targets)}; linear layers: {sorted(linear_names)}"
            f" (and {IN_PROJ!r} for fused attention projections)"
        )
    return replaced


def lora_modules(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, adapter) of every `LoRALinear` and `QKVLoRA` in `module`."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, (LoRALinear, QKVLoRA))]


def merge_lora(module: nn.Module) -> None:
    """Fold every adapter in `module` into its weight (in place): plain modules and keys remain.

    Merged weights keep the frozen state (`requires_grad=False`) of the adapted ones.
    """
    for parent in list(module.modules()):
        if isinstance(parent, MultiheadAttention) and parametrize.is_parametrized(
            parent, "in_proj_weight"
        ):
            unmerge_adapters(parent)  # the parametrized value then includes every update once
            parametrize.remove_parametrizations(parent, "in_proj_weight", leave_parametrized=True)
            parent.in_proj_weight.requires_grad_(False)
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                unmerge_adapters(child)
                merged = child.merged_linear()
                merged.requires_grad_(False)
                setattr(parent, name, merged)


def _weights_and_adapters(module: nn.Module) -> list[tuple[torch.Tensor, LoRALinear | QKVLoRA]]:
    """(weight the adapter updates, adapter) of every adapter in `module`."""
    out: list[tuple[torch.Tensor, LoRALinear | QKVLoRA]] = []
    for m in module.modules():
        if isinstance(m, LoRALinear):
            out.append((m.weight, m))
        elif isinstance(m, MultiheadAttention) and parametrize.is_parametrized(m, "in_proj_weight"):
            plist = m.parametrizations.in_proj_weight
            out += [(plist.original, a) for a in plist if isinstance(a, QKVLoRA)]
    return out


@torch.no_grad()
def merge_adapters(module: nn.Module) -> int:
    """Add each unmerged adapter's update to its weight in place (adapters kept, then inactive).

    Returns:
        How many adapters were merged.
    """
    count = 0
    for weight, adapter in _weights_and_adapters(module):
        if not adapter.merged:
            weight += adapter.delta().to(weight.dtype)
            adapter.merged = True
            count += 1
    return count


@torch.no_grad()
def unmerge_adapters(module: nn.Module) -> int:
    """Subtract each merged adapter's update from its weight again (adapters active again).

    Returns:
        How many adapters were unmerged.
    """
    count = 0
    for weight, adapter in _weights_and_adapters(module):
        if adapter.merged:
            weight -= adapter.delta().to(weight.dtype)
            adapter.merged = False
            count += 1
    return count
