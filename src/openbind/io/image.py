"""Image decoding with Pillow: files, bytes, arrays and PIL images -> a loaded PIL image.

`open_image` decodes to whatever mode the file has (depth and thermal use it); `load_image`
returns 3-channel 8-bit RGB for the image towers.

Conversion to RGB follows the ImageBind reference (`Image.open(f).convert("RGB")`) for all 8-bit
modes: grayscale is replicated, palette images are expanded, CMYK goes through Pillow's
conversion, and alpha is **dropped** (`alpha="drop"`, the reference behaviour: transparent
pixels show whatever colour they store). `alpha="white"` composites over white instead, which
is what a viewer shows. Two deliberate differences, both documented in `docs/media.md`:

* EXIF orientation is applied (`exif_transpose=True`); the reference ignores it, so phone photos
  reach its model sideways. Pass False for strict parity; files without the tag are unaffected.
* High-bit-depth modes are scaled to 8 bits (I;16 / I: value/257, so 65535 -> 255; F: values in
  [0, 1] -> [0, 255]); the reference's `convert("RGB")` clips them at 255, which turns most
  16-bit photos white.

EPS is refused (Pillow renders it by running Ghostscript, unsafe on untrusted uploads).

Decompression bombs: images with more than `max_pixels` pixels raise `DecodeError` before any
pixel is decoded (Pillow's own warning is silenced while openbind opens a file, under a lock so
worker threads do not interleave `warnings.catch_warnings`; Pillow's hard limit, 2 x
`PIL.Image.MAX_IMAGE_PIXELS`, also applies).
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from openbind.errors import BadInput, DecodeError, LimitExceeded
from openbind.io.sources import Source, to_source

__all__ = ["DEFAULT_MAX_PIXELS", "array_to_image", "load_image", "open_image", "to_rgb"]

DEFAULT_MAX_PIXELS = 178_956_970
"""Largest accepted image (pixels): Pillow's hard decompression-bomb limit, about 13k x 13k."""

_EXIF_ORIENTATION = 0x0112
# `warnings.catch_warnings` swaps process-wide state; the lock keeps our threads from
# interleaving it. Only `Image.open` (header parsing) runs under it, not the decoding.
_WARNINGS_LOCK = threading.Lock()
# Formats Pillow would decode by running an external program (Ghostscript for EPS) are refused:
# inputs may come from untrusted uploads.
_EXTERNAL_DECODERS = frozenset({"EPS"})
_formats: list[tuple[str, ...]] = []  # [the safe format names], filled once
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def load_image(
    item: Any,
    *,
    alpha: str = "drop",
    exif_transpose: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    draft_short_side: int | None = None,
) -> Image.Image:
    """Decode an image item to an 8-bit RGB PIL image.

    Args:
        item: a path, bytes, binary file object, numpy array (HW or HWC with 1, 3 or 4 channels;
            uint8, uint16, bool or float in [0, 1]) or a PIL image.
        alpha: "drop" (reference parity: keep the stored colour) or "white" (composite over
            white).
        exif_transpose: rotate / flip as the EXIF orientation tag says.
        max_pixels: refuse larger images (None: no limit of ours).
        draft_short_side: decode JPEGs at reduced size (see `open_image`); None: fully.

    Returns:
        A loaded image in mode "RGB" (may be the input PIL image itself when it already is).

    Raises:
        DecodeError: the file is empty, corrupt, truncated, not an image or too large; the
            message names the item and the reason.
        BadInput: the item has an unsupported type, shape or dtype, or the file is missing.
    """
    im = open_image(
        item,
        exif_transpose=exif_transpose,
        max_pixels=max_pixels,
        draft_short_side=draft_short_side,
    )
    return to_rgb(im, alpha)


def open_image(
    item: Any,
    *,
    exif_transpose: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    draft_short_side: int | None = None,
) -> Image.Image:
    """Decode an image item to a loaded PIL image in its own mode (L, I;16, RGB, RGBA, ...).

    Arguments and errors as `load_image`, plus:
        draft_short_side: decode JPEGs at a reduced size (libjpeg's DCT scaling by 1/2, 1/4 or
            1/8) whose short side is still at least this many pixels. Much faster on large
            photos, but the pixels differ from a full decode; None (default) decodes fully.
    """
    if isinstance(item, Image.Image):
        im = item
        name = f"PIL.Image({item.mode}, {item.size[0]}x{item.size[1]})"
    else:
        src = to_source(item)
        name = src.name
        if src.array is not None:
            im = array_to_image(src.array, src.name)
        else:
            im = _decode(src, max_pixels, draft_short_side)
    _check_size(im.size, max_pixels, name)
    if exif_transpose:
        im = _apply_exif_orientation(im, name)
    return im


def to_rgb(im: Image.Image, alpha: str = "drop") -> Image.Image:
    """Convert a PIL image of any mode to 8-bit RGB (see the module docstring for the rules).

    Raises:
        BadInput: `alpha` is neither "drop" nor "white".
    """
    if alpha not in ("drop", "white"):
        raise BadInput(f"alpha must be 'drop' or 'white', got {alpha!r}")
    if im.mode == "RGB":
        return im
    if im.mode in _HIGH_BIT_MODES or im.mode == "F":
        return Image.fromarray(_high_bit_to_uint8(im)).convert("RGB")
    if alpha == "white" and _has_alpha(im):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def array_to_image(array: Any, name: str = "array") -> Image.Image:
    """A PIL image from an HW or HWC array (1, 3 or 4 channels).

    uint8 is taken as is, uint16 is scaled by 1/257, bool maps to 0/255, and floats are read as
    [0, 1] (clipped, x255, rounded).

    Raises:
        BadInput: wrong number of dimensions or channels, an empty array or another dtype.
    """
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]  # (H, W)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise BadInput(
            f"image arrays must be (H, W) or (H, W, C) with C in 1, 3, 4; got shape {a.shape}",
            source=name,
        )
    if a.size == 0:
        raise BadInput(f"empty image array of shape {a.shape}", source=name)
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise BadInput("image array contains NaN or infinity", source=name)
        a = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise BadInput(
            f"image arrays must be uint8, uint16, bool or float; got {a.dtype}", source=name
        )
    return Image.fromarray(np.ascontiguousarray(a))


def _decode(src: Source, max_pixels: int | None, draft_short_side: int | None) -> Image.Image:
    f = src.open()
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(f, formats=_safe_formats())
        _check_size(im.size, max_pixels, src.name)  # from the header, before decoding
        if draft_short_side and im.format == "JPEG" and min(im.size) > draft_short_side:
            scale = draft_short_side / min(im.size)  # Pillow keeps the size >= the request
            im.draft(im.mode, (math.ceil(im.size[0] * scale), math.ceil(im.size[1] * scale)))
        im.load()
    except DecodeError:
        raise
    except Image.DecompressionBombError as e:
        raise DecodeError(f"image too large ({e})", source=src.name) from None
    except Image.UnidentifiedImageError:
        raise DecodeError("not an image Pillow can read", source=src.name) from None
    except Exception as e:  # Pillow raises many types on corrupt data (OSError, SyntaxError, ...)
        raise DecodeError(f"corrupt or truncated image ({_reason(e)})", source=src.name) from None
    finally:
        f.close()
    return im


def _safe_formats() -> tuple[str, ...]:
    """Every registered Pillow format except those that run external programs (cached).

    Threads racing on the first call each build the full tuple; none sees a partial one.
    """
    if not _formats:
        Image.init()
        _formats.append(tuple(f for f in Image.ID if f not in _EXTERNAL_DECODERS))
    return _formats[0]


def _check_size(size: tuple[int, int], max_pixels: int | None, name: str) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise DecodeError(f"image has no pixels ({w}x{h})", source=name)
    if max_pixels is not None and w * h > max_pixels:
        raise LimitExceeded(
            f"image too large: {w}x{h} = {w * h} pixels > max_pixels={max_pixels} "
            "(possible decompression bomb)",
            setting="max_pixels",
            limit=max_pixels,
            source=name,
        )


def _apply_exif_orientation(im: Image.Image, name: str) -> Image.Image:
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block: keep the pixels, ignore the tag
        return im
    if orientation not in (2, 3, 4, 5, 6, 7, 8):
        return im
    try:
        return ImageOps.exif_transpose(im)
    except Exception as e:
        raise DecodeError(f"cannot apply EXIF orientation ({_reason(e)})", source=name) from None


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in _ALPHA_MODES or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)


def _high_bit_to_uint8(im: Image.Image) -> np.ndarray:
    a = np.asarray(im)
    if im.mode == "F":
        return np.rint(np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0).astype(np.uint8)
    a = np.clip(a.astype(np.int64), 0, 65535)
    return ((a * 255 + 32767) // 65535).astype(np.uint8)


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
