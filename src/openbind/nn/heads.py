"""Small head and output modules: token selection, L2 normalisation, logit scaling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SelectToken(nn.Module):
    """Pick one token of every sequence: (B, L, D) -> (B, D).

    Args:
        index: position of the token (0 = the cls token).
    """

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.index]

    def extra_repr(self) -> str:
        return f"index={self.index}"


class Normalize(nn.Module):
    """L2-normalise along the last dimension."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)


class LogitScale(nn.Module):
    """Multiply by `min(exp(log_logit_scale), max_scale)` (a CLIP-style temperature).

    Args:
        scale: initial value of the scale (not its log).
        learnable: store `log_logit_scale` as a parameter (else as a buffer saved in checkpoints).
        max_scale: upper clip of the scale.
    """

    def __init__(self, scale: float, *, learnable: bool = False, max_scale: float = 100.0) -> None:
        super().__init__()
        self.max_scale = max_scale
        log_scale = torch.full((), math.log(scale))
        if learnable:
            self.log_logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_logit_scale", log_scale)

    @property
    def scale(self) -> torch.Tensor:
        """The clipped scale as a 0-d tensor."""
        return self.log_logit_scale.exp().clamp(max=self.max_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x
