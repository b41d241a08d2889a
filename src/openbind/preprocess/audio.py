"""Audio -> log mel spectrogram clips: `AudioConfig` and `AudioTransform` (item -> (S, 1, mels, frames)).

The ImageBind recipe (Girdhar et al. 2023, "ImageBind: One Embedding Space To Bind Them All",
after AST, Gong et al. 2021): resample to 16 kHz (`preprocess.resample`), take 3 clips of 2 s at
evenly spaced start times, subtract each clip's mean, Kaldi log mel filterbank (128 bins, 25 ms
frames every 10 ms, `preprocess.fbank`), right-pad with zeros or crop to 204 frames, normalise as
`(x - mean) / std` with mean -4.268 and std 9.138.

Two behaviours of the reference are fixed by default and reproduced with `parity=True`:

* channels: the reference keeps only the first channel (after subtracting the mean of all
  channels); by default openbind averages the channels.
* clip means: the reference subtracts each clip's mean in place on a view of the waveform, so
  when clips overlap (recordings between 2 and 6 s) later clips start from already shifted
  samples; by default each clip is centred on its own copy.

Clip time points: `clips` evenly spaced clips (the reference's constant sampler, exact
`Fraction`s), or a sliding window every `clip_stride_s` seconds that covers the whole recording,
falling back to `max_clips` evenly spaced clips when it would need more.

Example:
    >>> x = AudioTransform()("dog.wav")   # (3, 1, 128, 204) float32
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

from openbind.errors import ConfigError, DecodeError
from openbind.io.audio import SeekableAudio, channel_mean, load_audio, open_seekable
from openbind.io.audio_ranges import DecodedRanges, decode_ranges, merge_ranges
from openbind.io.clips import ClipSpan, clip_spans, sample_slices
from openbind.io.sources import to_source
from openbind.limits import DEFAULT_MAX_AUDIO_SECONDS, check_limit
from openbind.preprocess.common import check_clips
from openbind.preprocess.fbank import log_mel_fbank
from openbind.preprocess.resample import input_range, output_length, resample, resample_range

ClipTime = ClipSpan


@dataclass(frozen=True)
class AudioConfig:
    """How audio becomes model-ready spectrogram clips.

    Attributes:
        sample_rate: rate the audio is resampled to (Hz).
        clip_duration_s: length of one clip.
        clips: evenly spaced clips per recording (ignored when `clip_stride_s` is set).
        clip_stride_s: if set, a sliding window: a clip every `clip_stride_s` seconds, the last
            one ending at the end of the recording.
        max_clips: cap on the sliding window's clips; longer recordings get `max_clips` evenly
            spaced clips instead (None: no cap).
        num_mel_bins: mel filters.
        target_length: frames per clip after right-padding with zeros or cropping.
        frame_length_ms: analysis window.
        frame_shift_ms: hop between frames.
        mean: normalisation mean of the log mel values.
        std: normalisation standard deviation.
        parity: reproduce the reference exactly: first channel only and the in-place clip-mean
            leak between overlapping clips.
        array_sample_rate: sample rate of bare array items (None: arrays must come as
            `(array, sample_rate)`).
        max_duration_s: longer recordings raise `LimitExceeded` (`openbind.limits`; None: no
            limit). Long Ogg and mp3 files are read by seeking to the clips, other compressed
            files are decoded in pieces, so time, not memory, is what this bounds.
    """

    sample_rate: int = 16000
    clip_duration_s: float = 2.0
    clips: int = 3
    clip_stride_s: float | None = None
    max_clips: int | None = None
    num_mel_bins: int = 128
    target_length: int = 204
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    mean: float = -4.268
    std: float = 9.138
    parity: bool = False
    array_sample_rate: int | None = None
    max_duration_s: float | None = DEFAULT_MAX_AUDIO_SECONDS

    def __post_init__(self) -> None:
        checks = {
            "sample_rate": self.sample_rate > 0,
            "clip_duration_s": self.clip_duration_s > 0,
            "clips": self.clips >= 1,
            "clip_stride_s": self.clip_stride_s is None or self.clip_stride_s > 0,
            "max_clips": self.max_clips is None or self.max_clips >= 1,
            "num_mel_bins": self.num_mel_bins > 3,
            "target_length": self.target_length >= 1,
            "frame_length_ms": self.sample_rate * self.frame_length_ms >= 2000,
            "frame_shift_ms": self.sample_rate * self.frame_shift_ms >= 1000,
            "std": self.std > 0,
            "max_duration_s": self.max_duration_s is None or self.max_duration_s > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"AudioConfig: invalid {', '.join(bad)}: {self}")

    @property
    def frame_length(self) -> int:
        """Samples per analysis frame."""
        return int(self.sample_rate * self.frame_length_ms * 0.001)


def clip_times(duration: float, config: AudioConfig) -> list[ClipTime]:
    """Start and end (seconds, exact) of each clip of a recording of `duration` seconds.

    `openbind.io.clips.clip_spans` with the config's clip length, count, stride and cap.
    """
    stride = None if config.clip_stride_s is None else Fraction(str(config.clip_stride_s))
    spans = clip_spans(
        duration,
        Fraction(str(config.clip_duration_s)),
        config.clips,
        stride=stride,
        max_clips=config.max_clips,
    )
    return list(spans)


class AudioTransform:
    """One audio item -> (S, 1, num_mel_bins, target_length) float32 normalised log mel clips.

    Thread-safe (no mutable state; filter banks are cached process-wide).

    Args:
        config: preprocessing settings (default: ImageBind's, with the two fixes above).

    Example:
        >>> AudioTransform(AudioConfig(parity=True))("speech.wav").shape
        torch.Size([3, 1, 128, 204])
    """

    def __init__(self, config: AudioConfig | None = None) -> None:
        self.config = config or AudioConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        """Decode (`openbind.io.audio`) and preprocess one item.

        WAV, AIFF, FLAC and other seekable files are read only where the clips are (plus the
        resampling filter's context), so long recordings cost what their clips cost; Ogg, mp3
        and PyAV files are decoded front to back keeping only those samples (`decode_ranges`),
        so their memory is bounded (long Ogg and mp3 files are read by seeking to the clips). A tensor of
        3 or more dimensions is taken as preprocessed clips, (1, mels, frames) or
        (S, 1, mels, frames), and passed through after a shape check.

        Raises:
            BadInput: the item cannot be decoded (`DecodeError` for bad files) or is an array
                without a sample rate.
        """
        if isinstance(item, torch.Tensor) and item.ndim >= 3:  # already preprocessed clips
            return check_clips(
                item, (1, self.config.num_mel_bins, self.config.target_length), "audio"
            )
        source = item if isinstance(item, (tuple, dict)) else to_source(item)
        reader = open_seekable(source)
        if reader is not None:
            with reader:
                return self.from_reader(reader)
        try:  # compressed files: decoded front to back, keeping only what the clips need
            ranges = decode_ranges(
                source,
                self._input_ranges,
                mix=not self.config.parity,
                max_seconds=self.config.max_duration_s,
            )
        except DecodeError:  # load_audio raises the same, or decodes it with FFmpeg
            ranges = None
        if ranges is not None:
            return self.from_reader(ranges)
        wav = load_audio(source, sample_rate=self.config.array_sample_rate)
        self._check_duration(wav.duration_s, wav.name)
        return self.from_waveform(torch.from_numpy(wav.samples), wav.sample_rate)

    def _check_duration(self, seconds: float, name: str) -> None:
        limit = self.config.max_duration_s
        check_limit(seconds, limit, "max_duration_s", f"{seconds:,.0f} s of audio", name)

    def waveform(self, samples: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """The (channels', n) waveform at `config.sample_rate`: channels averaged, unless parity."""
        return resample(self._mixed(samples), sample_rate, self.config.sample_rate)

    def from_waveform(self, samples: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Preprocess decoded samples (channels, n) float32 at `sample_rate`."""
        wave = self.waveform(samples, sample_rate)
        if self.config.parity:  # the in-place leak must not touch the caller's samples; rows
            # laid out as the reference's (channels, n) waveform (see `_like_reference`)
            wave = wave.clone(memory_format=torch.contiguous_format)
        slices = self._slices(wave.shape[1])
        return self._features([wave[:, a:b] for a, b in slices])

    def from_reader(self, reader: SeekableAudio | DecodedRanges) -> torch.Tensor:
        """Preprocess a seekable file (or the kept ranges of a compressed one), reading only the
        samples the clips need."""
        rate = self.config.sample_rate
        self._check_duration(reader.frames / reader.sample_rate, reader.name)
        total = output_length(reader.frames, reader.sample_rate, rate)
        slices = self._slices(total)

        def read(lo: int, hi: int) -> torch.Tensor:  # (channels', hi - lo): mixed like _mixed
            if self.config.parity:
                return torch.from_numpy(reader.read(lo, hi))
            return torch.from_numpy(reader.read_mean(lo, hi))

        segments = [
            (first, last, resample_range(read, reader.sample_rate, rate, first, last))
            for first, last in merge_ranges(slices)
        ]
        if self.config.parity:
            segments = [(lo, hi, _like_reference(seg, total)) for lo, hi, seg in segments]
        views = [
            next(seg[:, a - lo : b - lo] for lo, hi, seg in segments if lo <= a and b <= hi)
            for a, b in slices
        ]
        return self._features(views)

    def _input_ranges(self, frames: int, sample_rate: int) -> list[tuple[int, int]]:
        """Input samples `from_reader` reads from a recording of `frames` samples."""
        rate = self.config.sample_rate
        slices = merge_ranges(self._slices(output_length(frames, sample_rate, rate)))
        return [input_range(sample_rate, rate, a, b) for a, b in slices]

    def _mixed(self, samples: torch.Tensor) -> torch.Tensor:
        """Default: the channel average (`channel_mean`, as the seekable reader computes it)."""
        if not self.config.parity and samples.shape[0] > 1:
            return torch.from_numpy(channel_mean(samples.detach().cpu().numpy()))
        return samples

    def _slices(self, n: int) -> list[tuple[int, int]]:
        """Sample ranges of the clips in a waveform of n samples at `config.sample_rate`."""
        rate = self.config.sample_rate
        return [(a, min(b, n)) for a, b in sample_slices(clip_times(n / rate, self.config), rate)]

    def _features(self, views: list[torch.Tensor]) -> torch.Tensor:
        """Centred clips (views in clip order) -> normalised, padded log mel clips."""
        cfg = self.config
        clips = self._centred_clips(views)
        distinct = list({id(c): c for c in clips}.values())  # shared clips are computed once
        feats = log_mel_fbank(
            distinct,
            sample_rate=cfg.sample_rate,
            num_mel_bins=cfg.num_mel_bins,
            frame_length_ms=cfg.frame_length_ms,
            frame_shift_ms=cfg.frame_shift_ms,
        )
        by_id = {id(c): f for c, f in zip(distinct, feats, strict=True)}
        feats = [by_id[id(c)] for c in clips]
        out = torch.zeros(len(feats), 1, cfg.num_mel_bins, cfg.target_length)  # (S, 1, mels, T)
        for k, f in enumerate(feats):
            n = min(f.shape[0], cfg.target_length)
            out[k, 0, :, :n] = f[:n].T
        # Normalise like torchvision's Normalize: float32 mean and std tensors.
        return out.sub_(torch.tensor(cfg.mean)).div_(torch.tensor(cfg.std))

    def _centred_clips(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """1-D clips minus their mean. Parity: in place on the views, in clip order, so that the
        means leak into overlapping later clips as in the reference. Default: identical views
        (recordings shorter than a clip) are centred once and shared."""
        clips: list[torch.Tensor] = []
        for k, view in enumerate(views):
            if self.config.parity:
                view -= view.mean()
                clip = view[0].clone()
            else:
                same = next((j for j in range(k) if _same_view(views[j], view)), None)
                clip = clips[same] if same is not None else view[0] - view[0].mean()
            if clip.shape[0] < self.config.frame_length:  # shorter than one frame: zero-pad
                clip = torch.nn.functional.pad(clip, (0, self.config.frame_length - clip.shape[0]))
            clips.append(clip)
        return clips


def _like_reference(segment: torch.Tensor, total: int) -> torch.Tensor:
    """`segment` (channels, n) of a waveform of `total` samples, its rows strided as in the whole
    (channels, total) waveform: torch sums a contiguous (2, n) clip in another order than a
    clip view with longer rows (on one thread), so the parity clip means, and through near-silent
    frames the features (by up to 2e-5), would differ from the reference's."""
    channels, n = segment.shape
    if channels == 1 or n == total:
        return segment.contiguous()
    if segment.stride(1) == 1 and segment.stride(0) > n:
        return segment
    return torch.empty(channels, n + 1)[:, :n].copy_(segment)


def _same_view(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()
