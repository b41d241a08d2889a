"""Image preprocessing: resize the short side, centre crop, scale to [0, 1], normalise.

Defaults reproduce ImageBind's `load_and_transform_vision_data` (torchvision `Resize(224,
BICUBIC)` on the PIL image, `CenterCrop(224)`, `ToTensor`, CLIP `Normalize`) bit-exactly:

* resize: the short side becomes `size`, the long side `int(size * long / short)` (truncated);
  Pillow's bicubic filter (antialiased when downscaling, upscaling small images);
* crop: offsets `int(round((h - crop) / 2))`, banker's rounding;
* `uint8 / 255` then `(x - mean) / std` in float32.

`ImageConfig(fast=True)` trades that parity for speed on large photos: JPEGs are decoded at a
reduced size (libjpeg DCT scaling, the short side kept at least twice the resize target) and
the resize runs torch's antialiased uint8 kernel. Pixels then differ from the reference by a
few grey levels (`docs/media.md` has the measured effect).

Example:
    >>> transform = ImageTransform(ImageConfig())          # ImageBind / CLIP
    >>> transform("cat.jpg").shape
    torch.Size([1, 3, 224, 224])
    >>> starter = ImageConfig(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)  # EfficientNet-Lite
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from openbind.errors import ConfigError
from openbind.io.image import DEFAULT_MAX_PIXELS, load_image
from openbind.preprocess.common import (
    CLIP_MEAN,
    CLIP_STD,
    center_crop_offset,
    check_clips,
    normalize,
    short_side_size,
    uint8_to_float,
)

__all__ = [
    "INTERPOLATIONS",
    "ImageConfig",
    "ImageTransform",
    "center_crop",
    "preprocess_image",
    "resize_crop",
    "resize_crop_fast",
    "resize_short_side",
    "to_normalized_tensor",
]

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
"""Names accepted by `ImageConfig.interpolation` -> Pillow filters."""

_TORCH_ANTIALIAS = frozenset({"bicubic", "bilinear"})  # what `fast=True` resizes with torch


@dataclass(frozen=True)
class ImageConfig:
    """How images become model input. Stored as JSON next to the weights.

    Attributes:
        size: the short side is resized to this many pixels.
        crop_size: side of the square centre crop (the model input).
        interpolation: Pillow filter name (see `INTERPOLATIONS`).
        mean: per-channel RGB mean on [0, 1] values.
        std: per-channel RGB standard deviation.
        alpha: "drop" (reference parity) or "white" (composite transparent images over white).
        exif_transpose: apply the EXIF orientation tag (the reference does not; see
            `openbind.io.image`).
        max_pixels: larger images raise `DecodeError` (None: no limit of openbind's).
        fast: give up bit-exact parity for speed (see the module docstring); bicubic and
            bilinear interpolation only.
    """

    size: int = 224
    crop_size: int = 224
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    alpha: str = "drop"
    exif_transpose: bool = True
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    fast: bool = False

    def __post_init__(self) -> None:
        if self.size < 1 or self.crop_size < 1:
            raise ConfigError(f"ImageConfig: size and crop_size must be >= 1, got {self}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"ImageConfig: unknown interpolation {self.interpolation!r}; "
                f"valid: {sorted(INTERPOLATIONS)}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError("ImageConfig: mean and std need 3 values each, std > 0")
        if self.alpha not in ("drop", "white"):
            raise ConfigError(f"ImageConfig: alpha must be 'drop' or 'white', got {self.alpha!r}")
        if self.fast and self.interpolation not in _TORCH_ANTIALIAS:
            raise ConfigError(
                f"ImageConfig: fast=True supports interpolation {sorted(_TORCH_ANTIALIAS)}, "
                f"not {self.interpolation!r}"
            )

    @classmethod
    def parity(cls) -> ImageConfig:
        """Strict ImageBind behaviour: also ignore EXIF orientation, like the reference."""
        return cls(exif_transpose=False)

    @property
    def clip_shape(self) -> tuple[int, int, int]:
        """Shape of one model-ready image: (3, crop_size, crop_size)."""
        return (3, self.crop_size, self.crop_size)


def resize_short_side(im: Image.Image, size: int, interpolation: str = "bicubic") -> Image.Image:
    """Resize so the short side is `size` (`short_side_size`)."""
    return im.resize(short_side_size(*im.size, size), INTERPOLATIONS[interpolation])


def center_crop(im: Image.Image, size: int) -> Image.Image:
    """Centred `size` x `size` crop; areas outside a smaller image are black (zero)."""
    w, h = im.size
    if (w, h) == (size, size):
        return im
    top, left = center_crop_offset(h, size), center_crop_offset(w, size)
    return im.crop((left, top, left + size, top + size))


def resize_crop(im: Image.Image, size: int, crop_size: int, interpolation: str) -> Image.Image:
    """`resize_short_side` then `center_crop`: the spatial part of every image-like transform."""
    return center_crop(resize_short_side(im, size, interpolation), crop_size)


def to_normalized_tensor(
    im: Image.Image | torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """An RGB PIL image or uint8 (3, H, W) tensor -> normalised float32 (3, H, W).

    The same float32 operations as torchvision's `ToTensor` + `Normalize`:
    `(uint8 / 255 - mean) / std`.
    """
    x = _chw_uint8(im) if isinstance(im, Image.Image) else im
    return normalize(uint8_to_float(x.contiguous()), mean, std, dim=0)


def resize_crop_fast(
    im: Image.Image, size: int, crop_size: int, interpolation: str = "bicubic"
) -> torch.Tensor:
    """`resize_crop` with torch's antialiased uint8 kernel: uint8 (3, crop, crop).

    About 5x faster than Pillow's resize; values differ from it by up to 2 grey levels on about
    1% of the pixels (more on a few images), so it is not reference parity.
    """
    new_w, new_h = short_side_size(*im.size, size)
    x = _chw_uint8(im)[None]
    if (new_w, new_h) != im.size:
        x = torch.nn.functional.interpolate(
            x, size=(new_h, new_w), mode=interpolation, antialias=True
        )
    top, left = center_crop_offset(new_h, crop_size), center_crop_offset(new_w, crop_size)
    if top >= 0 and left >= 0:
        return x[0, :, top : top + crop_size, left : left + crop_size]
    out = x.new_zeros(3, crop_size, crop_size)  # outside the image is black, as Pillow's crop
    y0, x0, dy, dx = max(top, 0), max(left, 0), max(-top, 0), max(-left, 0)
    hh, ww = min(new_h - y0, crop_size - dy), min(new_w - x0, crop_size - dx)
    out[:, dy : dy + hh, dx : dx + ww] = x[0, :, y0 : y0 + hh, x0 : x0 + ww]
    return out


def preprocess_image(im: Image.Image, config: ImageConfig) -> torch.Tensor:
    """A decoded RGB PIL image -> model-ready (3, crop_size, crop_size) float32 tensor."""
    if config.fast:
        x = resize_crop_fast(im, config.size, config.crop_size, config.interpolation)
        return to_normalized_tensor(x, config.mean, config.std)
    im = resize_crop(im, config.size, config.crop_size, config.interpolation)
    return to_normalized_tensor(im, config.mean, config.std)


def _chw_uint8(im: Image.Image) -> torch.Tensor:
    """An RGB PIL image -> its uint8 pixels as a (3, H, W) view of an (H, W, 3) array."""
    # np.asarray is a view of `tobytes()`; copying it is ~15x faster than np.array(im).
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)


class ImageTransform:
    """Decode + preprocess one image item into a (1, 3, crop, crop) tensor. Thread-safe.

    Items: whatever `openbind.io.image.load_image` accepts, or an already preprocessed tensor
    of shape (3, crop, crop) or (S, 3, crop, crop), which passes through after a shape check.
    """

    def __init__(self, config: ImageConfig | None = None) -> None:
        self.config = config or ImageConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        x = check_clips(item, c.clip_shape, "image")
        if x is not None:
            return x
        im = load_image(
            item,
            alpha=c.alpha,
            exif_transpose=c.exif_transpose,
            max_pixels=c.max_pixels,
            draft_short_side=2 * c.size if c.fast else None,
        )
        return preprocess_image(im, c).unsqueeze(0)  # (1, 3, crop, crop)

    def __repr__(self) -> str:
        return f"ImageTransform({self.config})"
