"""Thermal preprocessing: one-channel image -> resize, centre crop, [0, 1] -> (1, 224, 224).

The reference has no thermal loader and no normalisation constants (ImageBind PR 73 / issue 37
discuss it); the common recipe is the image pipeline on a grayscale picture: bicubic resize of
the short side to 224, centre crop, `ToTensor` (/255). That is the default here (`mean=0`,
`std=1`); 8-bit inputs are resized as 8-bit Pillow images, exactly as that recipe does.

Example:
    >>> ThermalTransform()("llvip_0001.jpg").shape
    torch.Size([1, 1, 224, 224])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from openbind.errors import ConfigError
from openbind.io.thermal import HIGH_BIT_DEPTH, load_thermal
from openbind.limits import DEFAULT_MAX_MAP_PIXELS
from openbind.preprocess.common import check_clips
from openbind.preprocess.image import INTERPOLATIONS, resize_crop

__all__ = ["ThermalConfig", "ThermalTransform", "preprocess_thermal"]


@dataclass(frozen=True)
class ThermalConfig:
    """How thermal images become model input. Stored as JSON next to the weights.

    Attributes:
        size: the short side is resized to this.
        crop_size: side of the square centre crop.
        interpolation: Pillow filter name.
        mean: subtracted from the [0, 1] values.
        std: divided by after subtracting the mean.
        high_bit_depth: "minmax" or "scale" for 16-bit data (see `openbind.io.thermal`).
        max_pixels: larger images raise `DecodeError`.
    """

    size: int = 224
    crop_size: int = 224
    interpolation: str = "bicubic"
    mean: float = 0.0
    std: float = 1.0
    high_bit_depth: str = "minmax"
    max_pixels: int | None = DEFAULT_MAX_MAP_PIXELS

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS or min(self.size, self.crop_size) < 1:
            raise ConfigError(f"ThermalConfig: bad interpolation or size in {self}")
        if self.high_bit_depth not in HIGH_BIT_DEPTH or self.std <= 0:
            raise ConfigError(
                f"ThermalConfig: high_bit_depth must be one of {HIGH_BIT_DEPTH} and std > 0"
            )

    @property
    def clip_shape(self) -> tuple[int, int, int]:
        """Shape of one model-ready thermal image: (1, crop_size, crop_size)."""
        return (1, self.crop_size, self.crop_size)


def preprocess_thermal(im: Any, config: ThermalConfig) -> torch.Tensor:
    """A one-channel PIL image ("L" or "F" in 0..255) -> (1, crop_size, crop_size) float32."""
    c = config
    im = resize_crop(im, c.size, c.crop_size, c.interpolation)
    a = np.array(im, dtype=np.float32)  # (crop, crop), 0..255
    a /= np.float32(255.0)
    x = torch.from_numpy(a)
    return x.sub_(c.mean).div_(c.std).unsqueeze(0)  # (1, crop, crop)


class ThermalTransform:
    """Decode + preprocess one thermal image into a (1, 1, crop, crop) tensor. Thread-safe.

    Items: whatever `openbind.io.thermal.load_thermal` accepts, or an already preprocessed
    tensor of shape (1, crop, crop) or (S, 1, crop, crop), passed through after a shape check.
    """

    def __init__(self, config: ThermalConfig | None = None) -> None:
        self.config = config or ThermalConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        x = check_clips(item, c.clip_shape, "thermal")
        if x is not None:
            return x
        im = load_thermal(item, high_bit_depth=c.high_bit_depth, max_pixels=c.max_pixels)
        return preprocess_thermal(im, c).unsqueeze(0)  # (1, 1, crop, crop)

    def __repr__(self) -> str:
        return f"ThermalTransform({self.config})"
