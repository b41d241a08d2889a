"""What every transform shares: the `Transform` / `Collate` types, and for the vision-like
transforms CLIP constants, normalisation, resize and crop geometry, and the check of items that
are already preprocessed tensors."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from openbind.errors import BadInput

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "Clips",
    "Collate",
    "Transform",
    "center_crop_offset",
    "check_clips",
    "normalize",
    "short_side_size",
    "uint8_to_float",
]

Clips = torch.Tensor | Mapping[str, torch.Tensor]
"""One item's (or one batch's) model input: a tensor (S, *clip_shape) whose first axis counts the
clips (video windows, audio chunks; 1 for an image), or named tensors sharing that axis (pixel values
plus masks, token ids plus an attention mask)."""

Transform = Callable[[Any], Clips]
"""Decode + preprocess one input item into its clips."""

Collate = Callable[[list[Clips]], Clips]
"""Join the clips of a batch's items into one tower input (sum S_i, ...), e.g. padding token ids."""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
"""OpenAI CLIP per-channel RGB mean (on [0, 1] values), used by ImageBind for images and video."""
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""OpenAI CLIP per-channel RGB standard deviation."""


def short_side_size(
    width: int, height: int, size: int, *, ratio_first: bool = False
) -> tuple[int, int]:
    """(width, height) after resizing so the short side is `size` pixels.

    The long side is `int(size * long / short)` (torchvision's `Resize`, for images), or with
    `ratio_first` `floor(long / short * size)` (pytorchvideo's `ShortSideScale`, for video).
    The two float orders truncate differently on some sizes, so each keeps its reference.

    Raises:
        BadInput: a side is 0 (an empty image or frame has nothing to resize).
    """
    if width < 1 or height < 1:
        raise BadInput(f"an image of {width}x{height} pixels is empty: nothing to resize")
    if ratio_first:
        if width < height:
            return size, math.floor(height / width * size)
        return math.floor(width / height * size), size
    return (
        (size, int(size * height / width))
        if width <= height
        else (int(size * width / height), size)
    )


def center_crop_offset(length: int, crop: int) -> int:
    """Start of a centred crop of `crop` pixels in `length`: `int(round((length - crop) / 2))`.

    Python's round (banker's rounding) as torchvision's `CenterCrop`; negative when the crop is
    larger than the image (the caller pads).
    """
    return round((length - crop) / 2.0)


def uint8_to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 0..1, as `x.float() / 255` (a division, for bit-exact parity)."""
    return x.to(torch.float32).div_(255.0)


def normalize(
    x: torch.Tensor, mean: Sequence[float], std: Sequence[float], dim: int
) -> torch.Tensor:
    """`(x - mean) / std` per channel along `dim`, in place on the float tensor `x`.

    Bit-exact with torchvision's `Normalize` (subtract, then divide, float32 constants).
    """
    shape = [1] * x.ndim
    shape[dim] = len(mean)
    m = torch.tensor(mean, dtype=x.dtype).view(shape)
    s = torch.tensor(std, dtype=x.dtype).view(shape)
    return x.sub_(m).div_(s)


def check_clips(item: Any, clip_shape: Sequence[int], what: str) -> torch.Tensor | None:
    """Pass an already preprocessed tensor through after a shape check.

    Args:
        item: any input item; only `torch.Tensor`s are handled here.
        clip_shape: the shape of one model-ready clip, e.g. (3, 224, 224).
        what: the modality name for the error message.

    Returns:
        For a tensor of shape `clip_shape` or `(S, *clip_shape)`, a float32 `(S, *clip_shape)`
        tensor (S = 1 for the former); None when `item` is not a tensor.

    Raises:
        BadInput: a tensor of another shape (the message gives the expected and the actual
            one), not floating point, or holding NaN or infinite values.
    """
    if not isinstance(item, torch.Tensor):
        return None
    clip_shape = tuple(clip_shape)
    shape = tuple(item.shape)
    if shape == clip_shape:
        x = item.unsqueeze(0)  # (1, *clip_shape)
    elif len(shape) == len(clip_shape) + 1 and shape[1:] == clip_shape and shape[0] >= 1:
        x = item
    else:
        expected = ", ".join(map(str, clip_shape))
        raise BadInput(
            f"a preprocessed {what} tensor must have shape ({expected}) or (S, {expected}); "
            f"got {shape}"
        )
    if not x.is_floating_point():
        raise BadInput(f"a preprocessed {what} tensor must be floating point, got {x.dtype}")
    x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise BadInput(f"a preprocessed {what} tensor holds NaN or infinite values")
    return x
