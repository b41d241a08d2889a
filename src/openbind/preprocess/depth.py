"""Depth preprocessing: metres -> disparity (or metres) -> resize, centre crop -> (1, 224, 224).

ImageBind has no depth loader; its depth tower was trained on **disparity** computed from
depth (the paper converts depth to disparity "for scale normalisation", following Omnivore).
The recipe Omnivore's authors published for SUN RGB-D (facebookresearch/omnivore issue 12) is
`disparity = baseline * focal_length / clip(depth_m, 0.01, 50)`, with the sensor's baseline
(0.075 m for Kinect) and focal length (pixels). That is `depth_to_disparity` here and the
default representation, with NYU-v2 Kinect intrinsics (fx = 518.8579 px, baseline 0.075 m)
because the tower cannot make sense of anything else. Set `focal_length` / `baseline` to your
sensor's values. No mean/std normalisation of disparity was published, so `mean=0, std=1`.

`representation="metres"` feeds plain metres (clipped to `max_depth`): what LanguageBind-style
depth towers and towers openbind trains itself use.

Missing measurements (depth 0) stay 0 in both representations (0 disparity = infinitely far;
the Omnivore snippet clipped them to 1 cm instead, i.e. to the largest disparity).

Example:
    >>> DepthTransform()("room_depth.png").shape   # 16-bit PNG in millimetres
    torch.Size([1, 1, 224, 224])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from openbind.errors import ConfigError
from openbind.io.depth import MILLIMETRES, load_depth
from openbind.limits import DEFAULT_MAX_MAP_PIXELS
from openbind.preprocess.common import check_clips
from openbind.preprocess.image import INTERPOLATIONS, resize_crop

__all__ = [
    "REPRESENTATIONS",
    "DepthConfig",
    "DepthTransform",
    "depth_to_disparity",
    "preprocess_depth",
]

REPRESENTATIONS = ("disparity", "metres")


@dataclass(frozen=True)
class DepthConfig:
    """How depth maps become model input. Stored as JSON next to the weights.

    Attributes:
        representation: "disparity" (ImageBind's training input) or "metres".
        unit_scale: metres per stored unit of integer files and arrays (0.001: millimetres).
        focal_length: camera focal length in pixels, for disparity.
        baseline: stereo / projector baseline in metres, for disparity.
        min_depth: depths are clipped to at least this (metres) before inverting.
        max_depth: depths are clipped to at most this (metres).
        size: the short side is resized to this.
        crop_size: side of the square centre crop.
        interpolation: Pillow filter name for the resize (on float values, no rounding).
        mean: subtracted after conversion.
        std: divided by after subtracting the mean.
        max_pixels: larger images raise `DecodeError`.
    """

    representation: str = "disparity"
    unit_scale: float = MILLIMETRES
    focal_length: float = 518.8579
    baseline: float = 0.075
    min_depth: float = 0.01
    max_depth: float = 50.0
    size: int = 224
    crop_size: int = 224
    interpolation: str = "bicubic"
    mean: float = 0.0
    std: float = 1.0
    max_pixels: int | None = DEFAULT_MAX_MAP_PIXELS

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ConfigError(
                f"DepthConfig: representation must be one of {REPRESENTATIONS}, "
                f"got {self.representation!r}"
            )
        if not 0 < self.min_depth < self.max_depth:
            raise ConfigError(f"DepthConfig: need 0 < min_depth < max_depth, got {self}")
        if min(self.unit_scale, self.focal_length, self.baseline, self.std) <= 0:
            raise ConfigError("DepthConfig: unit_scale, focal_length, baseline, std must be > 0")
        if self.interpolation not in INTERPOLATIONS or min(self.size, self.crop_size) < 1:
            raise ConfigError(f"DepthConfig: bad interpolation or size in {self}")

    @property
    def clip_shape(self) -> tuple[int, int, int]:
        """Shape of one model-ready depth map: (1, crop_size, crop_size)."""
        return (1, self.crop_size, self.crop_size)


def depth_to_disparity(
    depth: np.ndarray,
    focal_length: float,
    baseline: float,
    min_depth: float = 0.01,
    max_depth: float = 50.0,
) -> np.ndarray:
    """`baseline * focal_length / clip(depth, min_depth, max_depth)`; 0 where depth is 0.

    Args:
        depth: (H, W) metres; 0 marks a missing measurement.
        focal_length: pixels.
        baseline: metres.
        min_depth: lower clip in metres.
        max_depth: upper clip in metres.

    Returns:
        (H, W) float32 disparity in pixels.
    """
    valid = depth > 0
    clipped = np.clip(depth, min_depth, max_depth).astype(np.float32)
    out = np.float32(baseline * focal_length) / clipped
    out[~valid] = 0.0
    return out


def preprocess_depth(depth: np.ndarray, config: DepthConfig) -> torch.Tensor:
    """Depth in metres (H, W) -> model-ready (1, crop_size, crop_size) float32."""
    c = config
    if c.representation == "disparity":
        plane = depth_to_disparity(depth, c.focal_length, c.baseline, c.min_depth, c.max_depth)
    else:
        plane = np.minimum(depth, np.float32(c.max_depth)).astype(np.float32)
    im = resize_crop(Image.fromarray(plane), c.size, c.crop_size, c.interpolation)
    x = torch.from_numpy(np.array(im, dtype=np.float32))  # (crop, crop)
    return x.sub_(c.mean).div_(c.std).unsqueeze(0)  # (1, crop, crop)


class DepthTransform:
    """Decode + preprocess one depth map into a (1, 1, crop, crop) tensor. Thread-safe.

    Items: whatever `openbind.io.depth.load_depth` accepts, or an already preprocessed tensor
    of shape (1, crop, crop) or (S, 1, crop, crop), passed through after a shape check.
    """

    def __init__(self, config: DepthConfig | None = None) -> None:
        self.config = config or DepthConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        x = check_clips(item, c.clip_shape, "depth")
        if x is not None:
            return x
        depth = load_depth(item, unit_scale=c.unit_scale, max_pixels=c.max_pixels)
        return preprocess_depth(depth, c).unsqueeze(0)  # (1, 1, crop, crop)

    def __repr__(self) -> str:
        return f"DepthTransform({self.config})"
