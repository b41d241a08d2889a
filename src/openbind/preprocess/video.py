"""Video preprocessing: clips of frames -> scaled, normalised, spatially cropped clips.

Defaults reproduce ImageBind's `load_and_transform_video_data`: 5 clips of 2 s, 2 frames per
clip (first and last of the window), `/ 255`, pytorchvideo `ShortSideScale(224)` (bilinear
`F.interpolate`, `align_corners=False`, no antialias, long side `floor(long / short * 224)`),
CLIP mean/std, and `SpatialCrop(224, num_crops=3)`: crops at offsets 0, `ceil((L - 224) / 2)`
and `L - 224` along the long side, ordered clip-major ([clip0 crop0, clip0 crop1, clip0 crop2,
clip1 crop0, ...]). All clips are scaled, normalised and cropped together in batched ops.

Output per video: (clips_per_video * spatial_crops, 3, frames_per_clip, crop, crop), by default
(15, 3, 2, 224, 224).

Example:
    >>> VideoTransform()("dog.mp4").shape
    torch.Size([15, 3, 2, 224, 224])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from openbind.errors import ConfigError
from openbind.io.video import FRAME_TIMINGS, load_video_clips
from openbind.limits import DEFAULT_MAX_VIDEO_PIXELS
from openbind.preprocess.common import (
    CLIP_MEAN,
    CLIP_STD,
    check_clips,
    normalize,
    short_side_size,
    uint8_to_float,
)

_PLANE_PIXELS = 1920 * 1080  # larger frames are resized one plane at a time (less memory)

__all__ = [
    "VideoConfig",
    "VideoTransform",
    "crop_offsets",
    "preprocess_clips",
    "scale_frame",
    "scale_frames",
    "short_side_scale",
    "spatial_crops",
]


@dataclass(frozen=True)
class VideoConfig:
    """How videos become model input. Stored as JSON next to the weights.

    Attributes:
        clip_duration: seconds per clip.
        clips_per_video: clips spread evenly over the video.
        frames_per_clip: frames uniformly subsampled from each clip.
        size: the short side of every frame is scaled to this.
        crop_size: side of the square spatial crops.
        spatial_crops: 3 (start / centre / end of the long side, the reference) or 1 (centre).
        mean: per-channel RGB mean on [0, 1] values.
        std: per-channel RGB standard deviation.
        frame_timing: "auto", "index" (reference) or "pts" (see `openbind.io.video`).
        apply_rotation: turn frames as the display matrix says (the reference does not).
        max_pixels: frames with more pixels raise `LimitExceeded` before decoding (None: no
            limit of openbind's; `openbind.limits`).
    """

    clip_duration: float = 2.0
    clips_per_video: int = 5
    frames_per_clip: int = 2
    size: int = 224
    crop_size: int = 224
    spatial_crops: int = 3
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    frame_timing: str = "auto"
    apply_rotation: bool = True
    max_pixels: int | None = DEFAULT_MAX_VIDEO_PIXELS

    def __post_init__(self) -> None:
        if self.clip_duration <= 0 or min(self.clips_per_video, self.frames_per_clip) < 1:
            raise ConfigError(f"VideoConfig: clip settings must be positive, got {self}")
        if self.size < 1 or not 1 <= self.crop_size <= self.size:
            raise ConfigError(
                f"VideoConfig: need 1 <= crop_size <= size, got {self.crop_size}, {self.size}"
            )
        if self.spatial_crops not in (1, 3):
            raise ConfigError(
                f"VideoConfig: spatial_crops must be 1 or 3, got {self.spatial_crops}"
            )
        if self.frame_timing not in FRAME_TIMINGS:
            raise ConfigError(
                f"VideoConfig: frame_timing must be one of {FRAME_TIMINGS}, got {self.frame_timing!r}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError("VideoConfig: mean and std need 3 values each, std > 0")

    @classmethod
    def parity(cls) -> VideoConfig:
        """Strict ImageBind behaviour: index frame timing, rotation metadata ignored (decord)."""
        return cls(frame_timing="index", apply_rotation=False)

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        """Shape of one model-ready clip: (3, frames_per_clip, crop_size, crop_size)."""
        return (3, self.frames_per_clip, self.crop_size, self.crop_size)

    @property
    def num_clips(self) -> int:
        """Clips per video after spatial cropping (15 by default)."""
        return self.clips_per_video * self.spatial_crops


def short_side_scale(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of (N, C, T, H, W) clips so the short side is `size` (pytorchvideo rule).

    `align_corners=False`, no antialias; every (H, W) plane is resized on its own.
    """
    n, c, t, h, w = x.shape
    new_w, new_h = short_side_size(w, h, size, ratio_first=True)
    planes = x.reshape(n * c, t, h, w)  # (N*C, T, H, W)
    out = F.interpolate(planes, size=(new_h, new_w), mode="bilinear", align_corners=False)
    return out.reshape(n, c, t, new_h, new_w)


def scale_frames(frames: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (S, T, H, W, 3) frames -> `short_side_scale(frames / 255)` as (S, 3, T, h, w).

    Clips are converted and resized one at a time into the output, so a 4K video never holds
    more than one clip in float. Each call has the reference's shape (3, T, H, W): the CPU
    bilinear kernel's rounding depends on the layout, and this keeps it bit-identical. Frames
    larger than `_PLANE_PIXELS` are resized one (H, W) plane at a time instead (bit-identical
    too: each plane is computed alone in either case), so a 4K clip holds one 33 MB float plane
    rather than 200 MB.
    """
    s, t, h, w, _ = frames.shape
    new_w, new_h = short_side_size(w, h, size, ratio_first=True)
    out = torch.empty(s, 3, t, new_h, new_w)
    for i in range(s):
        if h * w > _PLANE_PIXELS:
            for k in range(t):
                out[i, :, k] = torch.from_numpy(scale_frame(frames[i, k], size))
            continue
        clip = torch.from_numpy(frames[i]).permute(3, 0, 1, 2).contiguous()  # (3, T, H, W)
        out[i] = F.interpolate(
            uint8_to_float(clip), size=(new_h, new_w), mode="bilinear", align_corners=False
        )
    return out


def scale_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """One uint8 (H, W, 3) frame -> (3, h, w) float32 `short_side_scale(frame / 255)`.

    Each (H, W) plane is resized on its own: the same numbers as `scale_frames` gives frames
    over `_PLANE_PIXELS`.
    """
    h, w, _ = frame.shape
    new_w, new_h = short_side_size(w, h, size, ratio_first=True)
    out = torch.empty(3, new_h, new_w)
    for c in range(3):
        plane = torch.from_numpy(np.ascontiguousarray(frame[:, :, c]))
        out[c] = F.interpolate(
            uint8_to_float(plane)[None, None],
            size=(new_h, new_w),
            mode="bilinear",
            align_corners=False,
        )[0, 0]
    return out.numpy()


def crop_offsets(height: int, width: int, size: int, num_crops: int) -> list[tuple[int, int]]:
    """(top, left) of each spatial crop, as ImageBind's `uniform_crop` computes them."""
    top, left = math.ceil((height - size) / 2), math.ceil((width - size) / 2)
    order = (0, 1, 2) if num_crops == 3 else (1,)
    out = []
    for index in order:
        y, x = top, left
        if height > width:
            y = {0: 0, 1: top, 2: height - size}[index]
        else:
            x = {0: 0, 1: left, 2: width - size}[index]
        out.append((y, x))
    return out


def spatial_crops(x: torch.Tensor, size: int, num_crops: int) -> torch.Tensor:
    """Crop (N, C, T, H, W) clips into (N * num_crops, C, T, size, size), clip-major."""
    n, c, t, h, w = x.shape
    offsets = crop_offsets(h, w, size, num_crops)
    crops = torch.stack([x[..., y : y + size, s : s + size] for y, s in offsets], dim=1)
    return crops.reshape(n * len(offsets), c, t, size, size)  # (N*K, C, T, size, size)


def preprocess_clips(frames: np.ndarray, config: VideoConfig) -> torch.Tensor:
    """Decoded clips -> model-ready (S * crops, 3, T, crop, crop) float32.

    `frames`: (S, T, H, W, 3) uint8, or (S, T, 3, h, w) float32 frames already scaled by
    `scale_frame` (what `VideoTransform` decodes frames over `_PLANE_PIXELS` into).
    """
    if frames.dtype == np.uint8:
        x = scale_frames(frames, config.size)  # (S, 3, T, h, w)
    else:
        x = torch.from_numpy(frames).permute(0, 2, 1, 3, 4)
    x = normalize(x, config.mean, config.std, dim=1)
    return spatial_crops(x, config.crop_size, config.spatial_crops)


class VideoTransform:
    """Decode + preprocess one video into (num_clips, 3, T, crop, crop) clips. Thread-safe.

    Items: a path, bytes or binary file object of a video file, or an already preprocessed
    tensor of shape (3, T, crop, crop) or (S, 3, T, crop, crop), passed through after a shape
    check.
    """

    def __init__(self, config: VideoConfig | None = None) -> None:
        self.config = config or VideoConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        x = check_clips(item, c.clip_shape, "video")
        if x is not None:
            return x
        clips = load_video_clips(
            item,
            clip_duration=c.clip_duration,
            clips_per_video=c.clips_per_video,
            frames_per_clip=c.frames_per_clip,
            frame_timing=c.frame_timing,
            apply_rotation=c.apply_rotation,
            max_pixels=c.max_pixels,
            frame_fn=self._shrink,
        )
        return preprocess_clips(clips.frames, c)

    def _shrink(self, frame: np.ndarray) -> np.ndarray:
        """Frames over `_PLANE_PIXELS` are scaled as soon as they are decoded: ten 4K frames
        would hold 250 MB as RGB, 11 MB scaled."""
        if frame.shape[0] * frame.shape[1] <= _PLANE_PIXELS:
            return frame
        return scale_frame(frame, self.config.size)

    def __repr__(self) -> str:
        return f"VideoTransform({self.config})"
