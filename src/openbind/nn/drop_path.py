"""Stochastic depth: randomly skip a residual branch per sample (Huang et al., 2016)."""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Zero the residual branch of whole samples with probability `p` during training.

    Kept samples are scaled by 1 / (1 - p) so the expectation is unchanged; in eval mode (and for
    p = 0) this is the identity.

    Args:
        p: drop probability.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)  # (B, 1, ..., 1)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p:g}"
