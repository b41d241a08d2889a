"""Training helpers around towers: `CachedTower` runs each distinct input of a frozen tower once.

The small tower architectures themselves live in `openbind.encoders.small` (the core), so that
spaces which ship such a tower (the starter's audio) load without importing `train`.
"""

from __future__ import annotations

import torch
from torch import nn


class CachedTower(nn.Module):
    """A frozen tower that remembers its output for each distinct input row.

    Exact for frozen towers in eval mode. Integer rows (token ids) are keyed without their
    trailing zero padding, so the same caption padded to different batch lengths hits the cache.
    """

    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.tower = tower
        self.cache: dict[bytes, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keys = [_key(row) for row in x]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            fresh = self.tower(x[missing])  # (M, D)
            for i, row in zip(missing, fresh, strict=True):
                self.cache[keys[i]] = row.detach()
        return torch.stack([self.cache[k] for k in keys])  # (N, D)


def _key(row: torch.Tensor) -> bytes:
    if not row.is_floating_point():
        nonzero = row.nonzero()
        row = row[: int(nonzero.max()) + 1] if len(nonzero) else row[:0]
    return row.cpu().numpy().tobytes()
