"""Thermal image decoding: 8/16-bit single-channel images, RGB renders and arrays -> one channel.

ImageBind's thermal tower was trained on LLVIP, whose infrared frames are 8-bit grayscale
images, and the reference ships no thermal loader. openbind therefore keeps 8-bit data as 8-bit
(values 0..255, later scaled to [0, 1]) and maps other inputs onto that picture:

* 8-bit grayscale (L, P, LA): used as is (alpha dropped);
* RGB / RGBA renders: converted to luma with Pillow's `convert("L")` (ITU-R 601:
  `L = R * 299/1000 + G * 587/1000 + B * 114/1000`), exact for grey renders, an approximation
  for false-colour palettes (ironbow etc.), which cannot be inverted without the palette;
* 16-bit (I;16 / I) radiometric counts: `high_bit_depth="minmax"` (default) stretches each image
  to its own min..max, like a camera's automatic gain (raw counts use a narrow band of the 16-bit
  range, so a fixed /65535 would give a flat grey picture); `"scale"` divides by 65535;
* float images and arrays: read as [0, 1] (clipped).

`load_thermal` returns a PIL image: mode "L" for 8-bit sources (so resizing matches an 8-bit
Pillow pipeline) or "F" with values in [0, 255] otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from openbind.errors import BadInput
from openbind.io.image import open_image
from openbind.io.sources import describe, to_source
from openbind.limits import DEFAULT_MAX_MAP_PIXELS

__all__ = ["HIGH_BIT_DEPTH", "load_thermal"]

HIGH_BIT_DEPTH = ("minmax", "scale")
_GRAY_8BIT = ("L", "P", "LA", "PA", "1")


def load_thermal(
    item: Any,
    *,
    high_bit_depth: str = "minmax",
    max_pixels: int | None = DEFAULT_MAX_MAP_PIXELS,
) -> Image.Image:
    """Decode a thermal image to one channel: a PIL image in mode "L" or "F" (0..255).

    Args:
        item: a path, bytes, binary file object, PIL image or array (H, W) / (H, W, 1|3):
            uint8 as is, uint16 by `high_bit_depth`, float in [0, 1].
        high_bit_depth: "minmax" (per-image stretch) or "scale" (/65535) for 16-bit data.
        max_pixels: larger images raise `DecodeError`.

    Raises:
        DecodeError: corrupt, truncated, empty or unsupported file.
        BadInput: wrong array shape or dtype, or an unknown `high_bit_depth`.
    """
    if high_bit_depth not in HIGH_BIT_DEPTH:
        raise BadInput(f"high_bit_depth must be one of {HIGH_BIT_DEPTH}, got {high_bit_depth!r}")
    if isinstance(item, Image.Image):  # checked for size like a decoded file
        name, im = describe(item), open_image(item, exif_transpose=False, max_pixels=max_pixels)
    else:
        src = to_source(item)
        name = src.name
        if src.array is not None:
            return _from_array(np.asarray(src.array), high_bit_depth, name)
        im = open_image(src, exif_transpose=True, max_pixels=max_pixels)
    if im.mode == "L":
        return im
    if im.mode in _GRAY_8BIT or im.mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
        return im.convert("L")
    return _from_array(np.asarray(im), high_bit_depth, name)


def _from_array(a: np.ndarray, high_bit_depth: str, name: str) -> Image.Image:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]  # (H, W)
    if a.ndim == 3 and a.shape[2] in (3, 4) and a.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(a[..., :3])).convert("L")
    if a.ndim != 2 or a.size == 0:
        raise BadInput(
            f"thermal arrays must be (H, W), (H, W, 1) or uint8 (H, W, 3); got shape {a.shape}",
            source=name,
        )
    if a.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(a))
    if np.issubdtype(a.dtype, np.integer):
        x = a.astype(np.float32)
        if high_bit_depth == "scale":
            x *= np.float32(255.0 / 65535.0)
        else:
            lo, hi = float(x.min()), float(x.max())
            x = (x - lo) * np.float32(255.0 / (hi - lo)) if hi > lo else np.zeros_like(x)
        return Image.fromarray(np.clip(x, 0.0, 255.0).astype(np.float32))
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise BadInput("thermal array contains NaN or infinity", source=name)
        return Image.fromarray(np.clip(a.astype(np.float32), 0.0, 1.0) * np.float32(255.0))
    raise BadInput(f"thermal arrays must be integer or float, got {a.dtype}", source=name)
