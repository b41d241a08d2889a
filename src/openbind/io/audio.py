"""Audio decoding: files, bytes, file objects and arrays -> a float32 `Waveform` (channels, samples).

Files with a libsndfile extension (wav, flac, ogg, mp3, aiff, ...) are read with soundfile; every
other audio or video container (m4a, aac, opus, webm, the audio track of an mp4, ...) with PyAV
(FFmpeg). Bytes and unnamed file objects try soundfile, then PyAV. Arrays come with their sample
rate: `(array, sample_rate)`, a `{"array": ..., "sampling_rate": ...}` dict (the Hugging Face
`datasets` layout), or an array plus `load_audio(..., sample_rate=...)`.

Samples keep the file's rate and channels; resampling and down-mixing are preprocessing
(`openbind.preprocess.audio`). Integer samples are scaled to [-1, 1) (int16: / 32768).
`open_seekable` gives a reader for WAV / FLAC / AIFF / ... files that reads any sample range
without decoding the rest (long recordings need only their clips); `openbind.io.audio_ranges`
decodes Ogg, mp3 and PyAV files front to back keeping only given sample ranges. Both read like
`load_audio`.

Example:
    >>> wav = load_audio("speech.wav")
    >>> wav.samples.shape, wav.sample_rate
    ((1, 194920), 44100)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from openbind.errors import BadInput, DecodeError
from openbind.io.audio_decoders import Header, av_pieces, ogg_truncation, reason, target
from openbind.io.sources import Source, describe, to_source

__all__ = [
    "AV_SUFFIXES",
    "SOUNDFILE_SUFFIXES",
    "SeekableAudio",
    "Waveform",
    "array_waveform",
    "channel_mean",
    "load_audio",
    "open_seekable",
]

SOUNDFILE_SUFFIXES = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd"}
    | {".w64", ".rf64", ".caf"}
)
"""Extensions read with soundfile (libsndfile); PyAV is the fallback if libsndfile fails."""

AV_SUFFIXES = frozenset(
    {".m4a", ".m4b", ".aac", ".opus", ".weba", ".webm", ".mka", ".mkv", ".mp4", ".m4v", ".mov"}
    | {".avi", ".wma", ".wmv", ".asf", ".amr", ".3gp", ".ac3", ".mp2", ".mpg", ".mpeg", ".ts"}
    | {".flv", ".spx", ".ape", ".wv", ".dts"}
)
"""Extensions read with PyAV: audio containers and the audio track of video files."""

_INT_SCALE = {np.dtype(np.int8): 2.0**7, np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31}
# Integer PCM is read as integers and scaled with numpy: the same values as libsndfile's float
# conversion, several times faster.
_NATIVE_INT = {"PCM_16": "int16", "PCM_S8": "int16", "PCM_U8": "int16", "ULAW": "int16"}
_NATIVE_INT |= {"ALAW": "int16", "PCM_24": "int32", "PCM_32": "int32"}
# Containers whose frame count is exact and whose seeking is sample-accurate in libsndfile.
_SEEKABLE_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "AIFF", "AU", "CAF", "FLAC"})
_WAV_DATA_SIZE = re.compile(r"^data : (\d+) \(should be (\d+)\)", re.MULTILINE)
_STREAMED_WAV_SIZE = 0xFFFFFFFF  # data size written by non-seekable writers (e.g. ffmpeg to a pipe)


@dataclass(frozen=True, eq=False)
class Waveform:
    """Decoded audio.

    Attributes:
        samples: (channels, n) float32, nominally in [-1, 1].
        sample_rate: samples per second per channel.
        name: the input's name for error messages.
    """

    samples: np.ndarray
    sample_rate: int
    name: str

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sample_rate


def load_audio(item: Any, *, sample_rate: int | None = None) -> Waveform:
    """Decode an audio item.

    Args:
        item: a path, bytes, binary file object, `(array, sample_rate)`, a dict with "array" and
            "sampling_rate", or an array (1-D mono, or 2-D channels-first; a 2-D array with more
            rows than columns is taken as (samples, channels)).
        sample_rate: the rate of a bare array item (ignored for files and tuples).

    Raises:
        DecodeError: the file is empty, corrupt, truncated, has no audio track or no samples, or
            has an unsupported extension; the message names the item and the reason.
        BadInput: the file is missing, an array lacks a sample rate, or has a bad shape or dtype.
    """
    if isinstance(item, tuple) and len(item) == 2:
        array, rate = item
        return array_waveform(array, rate, describe(array))
    if isinstance(item, dict) and "array" in item:
        return array_waveform(item["array"], item.get("sampling_rate"), describe(item["array"]))
    source = to_source(item)
    if source.array is not None:
        return array_waveform(source.array, sample_rate, source.name)
    suffix = source.suffix
    if suffix and suffix not in SOUNDFILE_SUFFIXES and suffix not in AV_SUFFIXES:
        raise DecodeError(f"unsupported audio file extension {suffix!r}", source=source.name)
    with source.open() as f:  # raises for missing or empty files
        cut = ogg_truncation(f)
    if cut:
        raise DecodeError(f"truncated file: {cut}", source=source.name)
    if suffix in AV_SUFFIXES:
        return _decode_av(source)
    try:
        decoded = _read_soundfile(source)
    except DecodeError as first:  # libsndfile cannot read it: maybe FFmpeg can
        try:
            return _decode_av(source)
        except DecodeError:
            raise first from None
    return _checked_soundfile(*decoded, source.name)


def array_waveform(array: Any, sample_rate: Any, name: str) -> Waveform:
    """A `Waveform` from an array of samples (see `load_audio` for the accepted layouts).

    Raises:
        BadInput: no valid sample rate, a shape other than 1-D / 2-D, an unsupported dtype, or
            NaN / infinite samples.
        DecodeError: the array has no samples.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise BadInput(
            "an audio array needs its sample rate: pass (array, sample_rate)", source=name
        )
    if sample_rate <= 0:
        raise BadInput(f"sample rate must be positive, got {sample_rate}", source=name)
    try:
        x = np.asarray(array)
    except Exception as e:  # e.g. a tensor on another device
        raise BadInput(f"cannot read the array ({e})", source=name) from None
    if x.ndim == 1:
        x = x[None]
    elif x.ndim == 2 and x.shape[0] > x.shape[1]:
        x = x.T  # (samples, channels) -> (channels, samples)
    elif x.ndim != 2:
        raise BadInput(f"audio arrays must be 1-D or 2-D, got shape {x.shape}", source=name)
    if x.dtype in _INT_SCALE:
        x = x.astype(np.float32) / np.float32(_INT_SCALE[x.dtype])
    elif x.dtype == np.uint8:
        x = (x.astype(np.float32) - 128.0) / np.float32(128.0)
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise BadInput("audio samples contain NaN or infinity", source=name)
    else:
        raise BadInput(f"unsupported audio sample dtype {x.dtype}", source=name)
    if x.shape[1] == 0:
        raise DecodeError("no audio samples", source=name)
    return Waveform(np.ascontiguousarray(x), int(sample_rate), name)


class SeekableAudio:
    """An open PCM / FLAC file (libsndfile) whose sample ranges can be read without the rest.

    Long recordings need only the samples of their clips; `open_seekable` gives this reader when
    the format allows it. Not thread-safe: use one per thread (each call of `open_seekable`
    opens the file anew). Close it (or use it as a context manager) when done.

    Attributes:
        frames: samples per channel.
        sample_rate: samples per second.
        channels: channel count.
        name: the input's name for error messages.
    """

    def __init__(self, handle: Any, name: str) -> None:
        self._handle = handle
        self._dtype = _NATIVE_INT.get(handle.subtype, "float32")
        self.frames: int = handle.frames
        self.sample_rate: int = handle.samplerate
        self.channels: int = handle.channels
        self.name = name

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) as (channels, stop - start) float32; zeros outside the file.

        Raises:
            DecodeError: libsndfile cannot read the range (corrupt data).
        """
        lo, hi = max(start, 0), min(stop, self.frames)
        if hi <= lo:
            return np.zeros((self.channels, max(stop - start, 0)), np.float32)
        out = np.empty((self.channels, stop - start), np.float32)
        out[:, : lo - start] = 0  # outside the file
        out[:, hi - start :] = 0
        data = self._read(lo, hi)
        if data.dtype == np.float32:
            out[:, lo - start : hi - start] = data.T
        else:  # scaled on the way in: the same values as _to_float, one pass
            scale = np.float32(1 / _INT_SCALE[data.dtype])
            np.multiply(data.T, scale, out=out[:, lo - start : hi - start], casting="unsafe")
        return out

    def read_mean(self, start: int, stop: int) -> np.ndarray:
        """`channel_mean(read(start, stop))`: (1, stop - start) float32, zeros outside the file.

        8/16-bit PCM is averaged on the integers (their sum is exact, so the result is the same)
        without making a float copy of every channel.

        Raises:
            DecodeError: libsndfile cannot read the range (corrupt data).
        """
        if self.channels == 1 or self._dtype != "int16" or self.channels > 256:
            return channel_mean(self.read(start, stop))
        out = np.zeros((1, max(stop - start, 0)), np.float32)
        lo, hi = max(start, 0), min(stop, self.frames)
        if hi > lo:
            data = self._read(lo, hi)
            total = out[0, lo - start : hi - start]
            np.add(data[:, 0], data[:, 1], out=total, dtype=np.float32)  # exact: < 2**24
            for c in range(2, self.channels):
                np.add(total, data[:, c], out=total, dtype=np.float32)
            total /= np.float32(_INT_SCALE[np.dtype(np.int16)] * self.channels)
        return out

    def _read(self, lo: int, hi: int) -> np.ndarray:
        """Samples [lo, hi) inside the file as (hi - lo, channels), in the native dtype."""
        try:
            self._handle.seek(lo)
            data = self._handle.read(hi - lo, dtype=self._dtype, always_2d=True)
        except Exception as e:  # libsndfile reports corrupt data with several exception types
            raise DecodeError(f"cannot decode audio ({reason(e)})", source=self.name) from None
        if data.shape[0] != hi - lo:
            raise DecodeError(
                f"truncated file: {data.shape[0]} of {hi - lo} samples read at {lo}",
                source=self.name,
            )
        return data

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> SeekableAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_seekable(item: Any) -> SeekableAudio | None:
    """A `SeekableAudio` for a WAV / AIFF / FLAC / ... file or buffer, or None.

    None means "decode it whole with `load_audio`": the item is an array, a format without exact
    seeking (mp3, ogg, anything PyAV reads), or a file that is missing, empty, corrupt or
    truncated (`load_audio` then raises the right error).
    """
    if isinstance(item, (tuple, dict)):
        return None
    import soundfile as sf

    source = to_source(item)
    if source.array is not None or (source.suffix and source.suffix not in SOUNDFILE_SUFFIXES):
        return None
    try:
        handle = sf.SoundFile(target(source))
    except Exception:  # load_audio will name the problem
        return None
    ok = (
        handle.format in _SEEKABLE_FORMATS
        and handle.seekable()
        and handle.frames > 0
        and handle.samplerate > 0
        and not _wav_truncated(handle.extra_info)
    )
    if not ok:
        handle.close()
        return None
    return SeekableAudio(handle, source.name)


def channel_mean(samples: np.ndarray) -> np.ndarray:
    """The average of the channels of (channels, n) float32 samples, as (1, n) float32.

    A float32 sum over the channels, then one division; mono input is returned as it is.
    """
    if samples.shape[0] == 1:
        return samples
    total = samples.sum(axis=0, dtype=np.float32, keepdims=True)
    return np.divide(total, np.float32(samples.shape[0]), out=total)


def _to_float(data: np.ndarray) -> np.ndarray:
    """Integer PCM scaled exactly as libsndfile's float conversion; floats as they are."""
    if data.dtype == np.float32:
        return data
    return data.astype(np.float32) / np.float32(_INT_SCALE[data.dtype])


def _wav_truncated(info: str) -> tuple[int, int] | None:
    """(declared, present) data bytes when a WAV header declares more data than the file has."""
    sizes = _WAV_DATA_SIZE.search(info)
    if sizes and _STREAMED_WAV_SIZE != int(sizes[1]) > int(sizes[2]):
        return int(sizes[1]), int(sizes[2])
    return None


def _read_soundfile(source: Source) -> tuple[np.ndarray, int, int, str]:
    """(samples (n, channels), rate, declared frames, libsndfile's header report)."""
    import soundfile as sf

    try:
        with sf.SoundFile(target(source)) as f:
            data = f.read(dtype=_NATIVE_INT.get(f.subtype, "float32"), always_2d=True)
            return data, f.samplerate, f.frames, f.extra_info
    except Exception as e:  # libsndfile reports corrupt data with several exception types
        raise DecodeError(f"cannot decode audio ({reason(e)})", source=source.name) from None


def _checked_soundfile(
    data: np.ndarray, rate: int, declared: int, info: str, name: str
) -> Waveform:
    """Refuse truncated files (the header promised more), then scale to float32."""
    truncated = _wav_truncated(info)
    if truncated:
        raise DecodeError(
            f"truncated file: the header declares {truncated[0]} data bytes, "
            f"{truncated[1]} are present",
            source=name,
        )
    if data.shape[0] < declared - max(declared // 100, 4096):
        raise DecodeError(
            f"truncated file: {data.shape[0]} of {declared} declared samples", source=name
        )
    return _checked(_to_float(data).T, rate, name)


def _decode_av(source: Source) -> Waveform:
    """The first audio track, whole, as FFmpeg decodes it (planar float at its own rate)."""
    pieces = av_pieces(source)
    header: Header = next(pieces)
    chunks = list(pieces)
    if not chunks:
        raise DecodeError("no audio samples", source=source.name)
    channels = {c.shape[0] for c in chunks}
    if len(channels) > 1:
        raise DecodeError(
            f"channel count changes within the stream {sorted(channels)}", source=source.name
        )
    return _checked(np.concatenate(chunks, axis=1), header.sample_rate, source.name)


def _checked(samples: np.ndarray, rate: int, name: str) -> Waveform:
    if samples.shape[1] == 0 or samples.shape[0] == 0:
        raise DecodeError("no audio samples", source=name)
    if not rate or rate <= 0:
        raise DecodeError("the file declares no sample rate", source=name)
    if not np.isfinite(samples).all():
        raise DecodeError("decoded samples contain NaN or infinity", source=name)
    return Waveform(np.ascontiguousarray(samples), int(rate), name)
