"""Depth map decoding: 16-bit images in millimetres, `.npy` / `.npz` and arrays in metres.

Everything is returned as float32 **metres**, shape (H, W):

* integer images and arrays (16-bit PNG / TIFF, uint16 arrays): `value * unit_scale` with
  `unit_scale = 0.001` (millimetres, the Kinect / NYU / SUN RGB-D convention after decoding);
* float images (mode F TIFF), float arrays and `.npy` / `.npz` files: already metres;
* 0, negative and non-finite values mean "no measurement" and are kept as 0.

8-bit images are refused: an 8-bit "depth" PNG is a visualisation with no units, and guessing a
scale would give the model numbers it never saw. Convert it to metres yourself and pass an array.

`.npz` files: the array under "depth" if present, else the only array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from openbind.errors import BadInput, DecodeError
from openbind.io.image import open_image
from openbind.io.sources import NPY_MAGIC, NPZ_MAGIC, Source, describe, load_arrays, to_source
from openbind.limits import DEFAULT_MAX_MAP_PIXELS

__all__ = ["MILLIMETRES", "load_depth"]

MILLIMETRES = 0.001
"""`unit_scale` for integer depth stored in millimetres (metres per stored unit)."""


def load_depth(
    item: Any,
    *,
    unit_scale: float = MILLIMETRES,
    max_pixels: int | None = DEFAULT_MAX_MAP_PIXELS,
) -> np.ndarray:
    """Decode a depth map to float32 metres (H, W).

    Args:
        item: a path, bytes or binary file object (16-bit PNG/TIFF, float TIFF, `.npy`, `.npz`),
            a PIL image, or an array (H, W), (1, H, W) or (H, W, 1): integer = stored units,
            float = metres.
        unit_scale: metres per stored unit of integer data (0.001: millimetres).
        max_pixels: larger images raise `DecodeError`.

    Raises:
        DecodeError: corrupt, truncated, empty or unsupported file; an 8-bit image.
        BadInput: wrong shape or dtype; the message names the item and the shape.
    """
    if isinstance(item, Image.Image):
        name, im = describe(item), open_image(item, exif_transpose=False, max_pixels=max_pixels)
    else:
        src = to_source(item)
        name = src.name
        if src.array is not None:
            return _to_metres(np.asarray(src.array), unit_scale, name)
        if _is_numpy_file(src):
            return _to_metres(_pick(load_arrays(src), "depth", name), unit_scale, name)
        im = open_image(src, exif_transpose=False, max_pixels=max_pixels)
    if im.mode not in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        raise DecodeError(
            f"{im.mode} (8-bit) images carry no depth units; use a 16-bit PNG in millimetres "
            "or a float .npy in metres",
            source=name,
        )
    return _to_metres(np.asarray(im), unit_scale, name)


def _pick(arrays: dict[str, np.ndarray], key: str, name: str) -> np.ndarray:
    if key in arrays:
        return arrays[key]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise BadInput(f"npz holds arrays {sorted(arrays)}; name the one to use {key!r}", source=name)


def _is_numpy_file(src: Source) -> bool:
    if src.suffix in (".npy", ".npz"):
        return True
    with src.open() as f:
        head = f.read(6)
    return head.startswith((NPY_MAGIC, NPZ_MAGIC))


def _to_metres(a: np.ndarray, unit_scale: float, name: str) -> np.ndarray:
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]  # (H, W)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]  # (H, W)
    if a.ndim != 2 or a.size == 0:
        raise BadInput(
            f"a depth map must be (H, W), (1, H, W) or (H, W, 1); got shape {a.shape}", source=name
        )
    if np.issubdtype(a.dtype, np.integer):
        out = a.astype(np.float32) * np.float32(unit_scale)
    elif np.issubdtype(a.dtype, np.floating):
        out = a.astype(np.float32)
    else:
        raise BadInput(f"depth must be integer or float, got {a.dtype}", source=name)
    out[~np.isfinite(out) | (out < 0)] = 0.0
    return out
