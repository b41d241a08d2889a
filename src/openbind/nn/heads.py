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
    """A CLIP-style inverse temperature `s = min(exp(log_logit_scale), max_scale)`.

    The one logit-scale module: the ImageBind heads multiply their output by it
    (`scale_module(x)`), and the contrastive losses read it (`scale_module()`).

    Args:
        scale: initial value of the scale (not its log); CLIP's 1 / 0.07 by default.
        learnable: store `log_logit_scale` as a parameter (else as a buffer saved in checkpoints).
        max_scale: upper clip of the scale.
    """

    def __init__(
        self, scale: float = 1 / 0.07, *, learnable: bool = True, max_scale: float = 100.0
    ) -> None:
        super().__init__()
        self.max_scale = max_scale
        log_scale = torch.full((), math.log(scale))
        if learnable:
            self.log_logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_logit_scale", log_scale)

    @property
    def log_scale(self) -> torch.Tensor:
        """`log_logit_scale` (the name the training code used)."""
        return self.log_logit_scale

    @property
    def scale(self) -> torch.Tensor:
        """The clipped scale as a 0-d tensor."""
        return self.log_logit_scale.exp().clamp(max=self.max_scale)

    def forward(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """`scale * x`, or the scale itself (0-d) when called without input."""
        return self.scale if x is None else self.scale * x

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        # Training checkpoints written before the two logit-scale classes were merged store
        # the value as "log_scale".
        old = prefix + "log_scale"
        if old in state_dict and prefix + "log_logit_scale" not in state_dict:
            state_dict[prefix + "log_logit_scale"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[arg-type]
