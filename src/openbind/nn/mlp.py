"""The two-layer feed-forward network of a transformer block."""

from __future__ import annotations

import torch
from torch import nn

from openbind.nn.fast import apply_linear


class Mlp(nn.Module):
    """`fc2(dropout(act(fc1(x))))` with an exact (erf) GELU by default.

    Args:
        dim: input and output width.
        hidden: hidden width (usually 4 * dim).
        dropout: dropout after the activation (training only).
        act: activation module class.
    """

    def __init__(
        self, dim: int, hidden: int, *, dropout: float = 0.0, act: type[nn.Module] = nn.GELU
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.act(apply_linear(self.fc1, x)))  # packed weights in inference
        return apply_linear(self.fc2, h)
