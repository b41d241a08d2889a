"""LanguageBind preprocessing: deterministic versions of the reference's processors.

Zhu et al., 2024 ("LanguageBind", ICLR); the reference's `processing_*.py` at commit 7070c53.
What each transform does, and where it deliberately differs from the reference:

* **image / thermal**: decode to RGB (any mode: grayscale, RGBA, 16-bit, palette; the reference
  crashes on everything but RGB), `/ 255`, bicubic resize of the short side to 224 on the float
  tensor (long side `int(224 * long / short)`), centre crop 224, CLIP mean/std.
  Antialias: the checkpoints were trained with torchvision 0.14 (the repo's pin), whose tensor
  `Resize` does **not** antialias, so `antialias=False` is the default; `antialias=True`
  reproduces the reference run with torchvision >= 0.17 (its current default; the two differ by
  up to 1.25 on a 640x480 photo, see `docs/languagebind.md`).
* **depth**: metres (`openbind.io.depth`: 16-bit files in millimetres by default, float arrays or
  `.npy` in metres; 8-bit images are refused because they carry no units), clipped to
  [0.01, 10] m, divided by 10, repeated to 3 channels, resized / cropped like images, CLIP
  mean/std (per channel, as the reference).
* **audio**: decoded, resampled to 16 kHz, the mean of the whole waveform (all channels)
  subtracted, Kaldi fbank of the first channel (112 bins, 25 ms / 10 ms, hanning, no dither),
  then 1036 frames: shorter recordings are tiled, longer ones give three chunks starting at the
  front, the middle and the back (the reference draws the three starts at random, so its output
  changed at every call), normalised `(x + 4.2677393) / (2 * 4.5689974)` -> (3, 112, 1036).
* **video**: 8 frames at `linspace(0, n - 1, 8)` (truncated to integers) over the whole video; a
  video with fewer than 8 frames repeats frames by the same rule (documented padding), `/ 255`,
  CLIP mean/std, bilinear short-side scale to 224 (pytorchvideo's rule), centre crop 224. The
  reference's `RandomHorizontalFlipVideo(p=0.5)`, active at inference, is not applied.
* **text**: CLIP BPE, 77 ids, padded with the end-of-text id 49407 (Hugging Face `CLIPTokenizer`).

Every transform returns one clip per item (a leading dimension of 1) and passes already
preprocessed tensors through after a shape check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from openbind.errors import BadInput, ConfigError
from openbind.io.audio import load_audio
from openbind.io.depth import MILLIMETRES, load_depth
from openbind.io.image import DEFAULT_MAX_PIXELS, load_image
from openbind.io.video import probe_video, read_frames
from openbind.preprocess.common import (
    CLIP_MEAN,
    CLIP_STD,
    center_crop_offset,
    check_clips,
    normalize,
    uint8_to_float,
)
from openbind.preprocess.fbank import log_mel_fbank
from openbind.preprocess.image import short_side_size
from openbind.preprocess.resample import resample
from openbind.preprocess.text import TextConfig
from openbind.preprocess.video import short_side_scale

__all__ = [
    "LB_TEXT",
    "LBAudioConfig",
    "LBAudioTransform",
    "LBDepthConfig",
    "LBDepthTransform",
    "LBImageConfig",
    "LBImageTransform",
    "LBThermalTransform",
    "LBVideoConfig",
    "LBVideoTransform",
    "audio_chunks",
    "frame_indices",
    "resize_crop_tensor",
    "text_order_key",
]

LB_TEXT = TextConfig(pad_id=49407, unescape_html=False)
"""Hugging Face `CLIPTokenizer` behaviour: pad with the end-of-text id, no HTML unescaping."""


def resize_crop_tensor(
    x: torch.Tensor, size: int, crop_size: int, *, antialias: bool
) -> torch.Tensor:
    """torchvision `Resize(size, BICUBIC)` + `CenterCrop(crop_size)` on a float (C, H, W) tensor.

    The short side becomes `size`, the long side `int(size * long / short)`; values are not
    clamped (torchvision does not clamp floats).
    """
    _, h, w = x.shape
    new_w, new_h = short_side_size(w, h, size)
    if (new_h, new_w) != (h, w):
        x = F.interpolate(
            x[None], size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=antialias
        )[0]
    top, left = center_crop_offset(new_h, crop_size), center_crop_offset(new_w, crop_size)
    if top < 0 or left < 0:  # torchvision pads with zeros, then crops
        pad_h, pad_w = max(-top, 0), max(-left, 0)
        x = F.pad(x, (pad_w, crop_size - new_w - pad_w, pad_h, crop_size - new_h - pad_h))
        top, left = max(top, 0), max(left, 0)
    return x[:, top : top + crop_size, left : left + crop_size]


@dataclass(frozen=True)
class LBImageConfig:
    """Images and thermal images (see the module docstring).

    Attributes:
        size: short side after resizing.
        crop_size: side of the centre crop.
        antialias: antialiased bicubic resize (False: the training-time behaviour).
        mean: per-channel mean on [0, 1] values.
        std: per-channel standard deviation.
        alpha: "drop" or "white" (how transparent images become RGB, `openbind.io.image`).
        exif_transpose: apply the EXIF orientation (the reference does not).
        max_pixels: larger images raise `DecodeError`.
    """

    size: int = 224
    crop_size: int = 224
    antialias: bool = False
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    alpha: str = "drop"
    exif_transpose: bool = True
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    @property
    def clip_shape(self) -> tuple[int, int, int]:
        return (3, self.crop_size, self.crop_size)


class LBImageTransform:
    """One image -> (1, 3, crop, crop) float32. Thread-safe."""

    modality = "image"

    def __init__(self, config: LBImageConfig | None = None) -> None:
        self.config = config or LBImageConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        x = check_clips(item, c.clip_shape, self.modality)
        if x is not None:
            return x
        im = load_image(
            item, alpha=c.alpha, exif_transpose=c.exif_transpose, max_pixels=c.max_pixels
        )
        pixels = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)  # (3, H, W) uint8
        x = resize_crop_tensor(uint8_to_float(pixels), c.size, c.crop_size, antialias=c.antialias)
        return normalize(x.contiguous(), c.mean, c.std, dim=0).unsqueeze(0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


class LBThermalTransform(LBImageTransform):
    """One thermal (infrared) image -> (1, 3, crop, crop): the image pipeline, as the reference."""

    modality = "thermal"


@dataclass(frozen=True)
class LBDepthConfig:
    """Depth maps (see the module docstring).

    Attributes:
        unit_scale: metres per stored unit of integer files / arrays (0.001: millimetres).
        min_depth: lower clip, metres.
        max_depth: upper clip, metres; depth is divided by it.
        size: short side after resizing.
        crop_size: side of the centre crop.
        antialias: antialiased bicubic resize.
        mean: per-channel mean (CLIP's, as the reference).
        std: per-channel standard deviation.
        max_pixels: larger images raise `DecodeError`.
    """

    unit_scale: float = MILLIMETRES
    min_depth: float = 0.01
    max_depth: float = 10.0
    size: int = 224
    crop_size: int = 224
    antialias: bool = False
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if not 0 < self.min_depth < self.max_depth or self.unit_scale <= 0:
            raise ConfigError(
                f"LBDepthConfig: need 0 < min_depth < max_depth, unit_scale > 0: {self}"
            )

    @property
    def clip_shape(self) -> tuple[int, int, int]:
        return (3, self.crop_size, self.crop_size)


class LBDepthTransform:
    """One depth map -> (1, 3, crop, crop) float32. Thread-safe."""

    def __init__(self, config: LBDepthConfig | None = None) -> None:
        self.config = config or LBDepthConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        x = check_clips(item, c.clip_shape, "depth")
        if x is not None:
            return x
        metres = load_depth(item, unit_scale=c.unit_scale, max_pixels=c.max_pixels)
        plane = np.clip(metres, c.min_depth, c.max_depth) / np.float32(c.max_depth)
        x = torch.from_numpy(plane.astype(np.float32))[None].repeat(3, 1, 1)  # (3, H, W)
        x = resize_crop_tensor(x, c.size, c.crop_size, antialias=c.antialias)
        return normalize(x.contiguous(), c.mean, c.std, dim=0).unsqueeze(0)

    def __repr__(self) -> str:
        return f"LBDepthTransform({self.config})"


@dataclass(frozen=True)
class LBAudioConfig:
    """Audio (see the module docstring).

    Attributes:
        sample_rate: audio is resampled to this.
        num_mel_bins: mel filters.
        target_length: frames per chunk.
        chunks: chunks stacked as channels.
        mean: normalisation mean.
        std: normalisation std (the reference divides by 2 * std).
        frame_length_ms: analysis window.
        frame_shift_ms: hop.
        array_sample_rate: sample rate of bare array items.
    """

    sample_rate: int = 16000
    num_mel_bins: int = 112
    target_length: int = 1036
    chunks: int = 3
    mean: float = -4.2677393
    std: float = 4.5689974
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    array_sample_rate: int | None = None

    @property
    def clip_shape(self) -> tuple[int, int, int]:
        return (self.chunks, self.num_mel_bins, self.target_length)


def audio_chunks(fbank: torch.Tensor, target_length: int, chunks: int = 3) -> torch.Tensor:
    """(frames, bins) log mel -> (chunks, target_length, bins).

    Shorter: tiled to `target_length` and repeated; equal: repeated; longer: chunks starting at
    evenly spaced offsets from the front to the back (0, middle, end for 3).
    """
    n = fbank.shape[0]
    if n <= target_length:
        tiled = fbank.repeat(target_length // n + 1, 1)[:target_length]
        return tiled[None].expand(chunks, -1, -1)
    last = n - target_length
    starts = [round(k * last / (chunks - 1)) for k in range(chunks)] if chunks > 1 else [last // 2]
    return torch.stack([fbank[s : s + target_length] for s in starts])


class LBAudioTransform:
    """One audio item -> (1, 3, 112, 1036) float32. Thread-safe."""

    def __init__(self, config: LBAudioConfig | None = None) -> None:
        self.config = config or LBAudioConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        if isinstance(item, torch.Tensor) and item.ndim >= 3:
            return check_clips(item, c.clip_shape, "audio")
        wav = load_audio(item, sample_rate=c.array_sample_rate)
        return self.from_waveform(torch.from_numpy(wav.samples), wav.sample_rate)

    def from_waveform(self, samples: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Decoded (channels, n) float32 samples at `sample_rate` -> (1, 3, bins, frames)."""
        c = self.config
        wave = resample(samples, sample_rate, c.sample_rate)
        wave = wave - wave.mean()
        clip = wave[0]
        min_len = int(c.sample_rate * c.frame_length_ms * 0.001)
        if clip.shape[0] < min_len:
            clip = F.pad(clip, (0, min_len - clip.shape[0]))
        [fbank] = log_mel_fbank(
            [clip],
            sample_rate=c.sample_rate,
            num_mel_bins=c.num_mel_bins,
            frame_length_ms=c.frame_length_ms,
            frame_shift_ms=c.frame_shift_ms,
        )
        x = audio_chunks(fbank, c.target_length, c.chunks).transpose(1, 2)  # (3, bins, frames)
        return ((x - c.mean) / (c.std * 2)).unsqueeze(0).contiguous()

    def __repr__(self) -> str:
        return f"LBAudioTransform({self.config})"


@dataclass(frozen=True)
class LBVideoConfig:
    """Video (see the module docstring).

    Attributes:
        frames: frames per clip (LanguageBind towers support 8 only).
        size: short side after scaling.
        crop_size: side of the centre crop.
        mean: per-channel mean.
        std: per-channel standard deviation.
        apply_rotation: turn frames as the display matrix says.
    """

    frames: int = 8
    size: int = 224
    crop_size: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    apply_rotation: bool = True

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        return (3, self.frames, self.crop_size, self.crop_size)


def frame_indices(num_frames: int, frames: int = 8) -> list[int]:
    """`linspace(0, num_frames - 1, frames)` truncated: frames spread over the whole video;
    fewer frames than `frames` repeat (e.g. 3 -> [0, 0, 0, 1, 1, 1, 1, 2])."""
    if num_frames < 1:
        raise BadInput("the video has no frames")
    return np.linspace(0, num_frames - 1, frames).astype(np.int64).tolist()


class LBVideoTransform:
    """One video -> (1, 3, 8, crop, crop) float32. Thread-safe."""

    def __init__(self, config: LBVideoConfig | None = None) -> None:
        self.config = config or LBVideoConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        x = check_clips(item, c.clip_shape, "video")
        if x is not None:
            return x
        info = probe_video(item)
        frames = read_frames(
            item, frame_indices(info.num_frames, c.frames), apply_rotation=c.apply_rotation
        )  # (T, H, W, 3) uint8
        return self.from_frames(frames)

    def from_frames(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 frames -> (1, 3, T, crop, crop)."""
        c = self.config
        x = uint8_to_float(torch.from_numpy(frames).permute(3, 0, 1, 2).contiguous())  # (3,T,H,W)
        x = normalize(x, c.mean, c.std, dim=0)
        x = short_side_scale(x[None], c.size)[0]  # (3, T, h, w)
        h, w = x.shape[-2:]
        top, left = center_crop_offset(h, c.crop_size), center_crop_offset(w, c.crop_size)
        return x[..., top : top + c.crop_size, left : left + c.crop_size].unsqueeze(0).contiguous()

    def __repr__(self) -> str:
        return f"LBVideoTransform({self.config})"


def text_order_key(item: Any) -> float:
    """Batch long texts together (cost = length of a string item)."""
    return float(len(item)) if isinstance(item, str) else 0.0
