"""Low-rank adaptation (LoRA) of the linear projections of a tower.

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021; LanguageBind trains its
modality towers this way against a frozen text tower.

openbind uses its own ~50-line LoRA rather than `peft`: `LoRALinear` *is* an `nn.Linear` (same
`weight`/`bias` names), so a tower with adapters keeps the state-dict keys of the tower without
them plus `lora_a`/`lora_b`, and `merge_lora` folds the update back into `weight` to give exactly
the original key scheme (state-dict keys are public API). peft would wrap the model in a
`PeftModel` and rename keys (`base_model.model.….base_layer.weight`), and adds a dependency.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class LoRALinear(nn.Linear):
    """A frozen linear layer plus a trainable low-rank update: y = x W^T + b + s * x A^T B^T.

    `B` starts at zero, so the adapted layer starts equal to the original one.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__(base.in_features, base.out_features, bias=base.bias is not None)
        self.weight = nn.Parameter(base.weight.detach().clone(), requires_grad=False)
        if base.bias is not None:
            self.bias = nn.Parameter(base.bias.detach().clone(), requires_grad=False)
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merged(self) -> nn.Linear:
        """A plain `nn.Linear` with the update folded into its weight."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            out.weight.copy_(self.weight + self.scale * self.lora_b @ self.lora_a)
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out


def apply_lora(module: nn.Module, targets: Iterable[str], rank: int, alpha: float) -> int:
    """Freeze `module` and put adapters on its `nn.Linear` children named in `targets`.

    Args:
        module: the tower.
        targets: names matched against the last part of each submodule's name (e.g. "qkv", "fc1").
        rank: adapter rank (> 0).
        alpha: update scale numerator.

    Returns:
        How many linear layers got adapters.

    Raises:
        ValueError: no linear layer matched `targets` (the linear names present are listed).
    """
    targets = set(targets)
    for p in module.parameters():
        p.requires_grad_(False)
    replaced = 0
    linear_names = []
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and not isinstance(child, LoRALinear):
                linear_names.append(name)
                if name in targets:
                    setattr(parent, name, LoRALinear(child, rank, alpha))
                    replaced += 1
    if not replaced:
        raise ValueError(
            f"no linear layer named {sorted(targets)}; linear layers: {sorted(set(linear_names))}"
        )
    return replaced


def merge_lora(module: nn.Module) -> None:
    """Replace every `LoRALinear` in `module` by its merged `nn.Linear` (in place)."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, name, child.merged())
