"""ImageBind heads and postprocessors (checkpoint key layout).

Heads map trunk tokens (B, L, D) to the shared space (B, out_dim) before normalisation;
postprocessors L2-normalise and multiply by the modality's logit scale (none for vision).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from openbind.encoders.imagebind.config import TrunkConfig
from openbind.nn.heads import LogitScale, Normalize, SelectToken

HEAD_NORM_EPS = 1e-6


def cls_head(width: int, out_dim: int, *, dropout: float = 0.0) -> nn.Sequential:
    """LayerNorm -> cls token -> [Dropout] -> Linear without bias (keys `0`, `2` or `3`)."""
    drop = [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(
        nn.LayerNorm(width, eps=HEAD_NORM_EPS),
        SelectToken(0),
        *drop,
        nn.Linear(width, out_dim, bias=False),
    )


class EosHead(nn.Module):
    """Pick each sequence's end-of-text token, then LayerNorm -> Linear without bias (`proj`)."""

    def __init__(self, width: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.LayerNorm(width, eps=HEAD_NORM_EPS), nn.Linear(width, out_dim, bias=False)
        )

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D); index: (B,) token positions -> (B, out_dim)."""
        return self.proj(x[torch.arange(x.shape[0], device=x.device), index])


HEADS: dict[str, Callable[[TrunkConfig, int], nn.Module]] = {
    "vision": lambda cfg, out: cls_head(cfg.width, out),
    "text": lambda cfg, out: EosHead(cfg.width, out),
    "audio": lambda cfg, out: cls_head(cfg.width, out),
    "depth": lambda cfg, out: cls_head(cfg.width, out),
    "thermal": lambda cfg, out: cls_head(cfg.width, out),
    "imu": lambda cfg, out: cls_head(cfg.width, out, dropout=0.5),
}
"""Reference modality name -> head builder (tower config, output width)."""

LOGIT_SCALES: dict[str, tuple[float, bool] | None] = {
    "vision": None,
    "text": (1 / 0.07, True),
    "audio": (20.0, False),
    "depth": (5.0, False),
    "thermal": (10.0, False),
    "imu": (5.0, False),
}
"""Reference modality name -> (initial logit scale, learnable), or None for no scaling."""


def postprocessor(name: str) -> nn.Module:
    """L2 normalisation, then the modality's logit scale (text: learnable, clipped at 100)."""
    scale = LOGIT_SCALES[name]
    if scale is None:
        return Normalize()
    value, learnable = scale
    return nn.Sequential(Normalize(), LogitScale(value, learnable=learnable, max_scale=100.0))
