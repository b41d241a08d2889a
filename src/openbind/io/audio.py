"""Audio decoding: files, bytes, file objects and arrays -> a float32 `Waveform` (channels, samples).

Files with a libsndfile extension (wav, flac, ogg, mp3, aiff, ...) are read with soundfile; every
other audio or video container (m4a, aac, opus, webm, the audio track of an mp4, ...) with PyAV
(FFmpeg). Bytes and unnamed file objects try soundfile, then PyAV. Arrays come with their sample
rate: `(array, sample_rate)`, a `{"array": ..., "sampling_rate": ...}` dict (the Hugging Face
`datasets` layout), or an array plus `load_audio(..., sample_rate=...)`.

Samples keep the file's rate and channels; resampling and down-mixing are preprocessing
(`openbind.preprocess.audio`). Integer samples are scaled to [-1, 1) (int16: / 32768).
`open_seekable` gives a reader for WAV / FLAC / AIFF / ... files that reads any sample range
without decoding the rest (long recordings need only their clips); `decode_ranges` decodes Ogg,
mp3 and PyAV files front to back keeping only given sample ranges. Both read like `load_audio`.

Example:
    >>> wav = load_audio("speech.wav")
    >>> wav.samples.shape, wav.sample_rate
    ((1, 194920), 44100)
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from openbind.errors import BadInput, DecodeError
from openbind.io.sources import Source, describe, to_source

__all__ = [
    "AV_SUFFIXES",
    "SOUNDFILE_SUFFIXES",
    "DecodedRanges",
    "SeekableAudio",
    "Waveform",
    "array_waveform",
    "channel_mean",
    "decode_ranges",
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
        cut = _ogg_truncated(f)
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
            raise DecodeError(f"cannot decode audio ({_reason(e)})", source=self.name) from None
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
        target = str(source.path) if source.path is not None else io.BytesIO(source.data or b"")
        handle = sf.SoundFile(target)
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


class DecodedRanges:
    """Sample ranges of a compressed file, decoded front to back with the rest thrown away.

    The same reading interface as `SeekableAudio` (`frames`, `sample_rate`, `read`, `read_mean`),
    made by `decode_ranges`. Reads must fall inside the ranges that were kept.

    Attributes:
        frames: samples per channel in the whole file (exact: counted while decoding).
        sample_rate: samples per second.
        channels: channels kept (1 when the channels were averaged while decoding).
        name: the input's name for error messages.
    """

    def __init__(
        self, segments: list[tuple[int, np.ndarray]], frames: int, rate: int, name: str
    ) -> None:
        self._segments = segments  # (first sample, (channels, n) float32), zeros past the end
        self.frames = frames
        self.sample_rate = rate
        self.channels = segments[0][1].shape[0] if segments else 1
        self.name = name

    def covers(self, ranges: list[tuple[int, int]]) -> bool:
        """Whether every [lo, hi) range lies in one kept segment (outside the file is zeros)."""
        return all(self._segment(lo, hi) is not None for lo, hi in ranges)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) as (channels, stop - start) float32; zeros outside the file."""
        out = np.zeros((self.channels, max(stop - start, 0)), np.float32)
        lo, hi = max(start, 0), min(stop, self.frames)
        if hi > lo:
            found = self._segment(start, stop)
            if found is None:
                raise ValueError(f"samples [{start}, {stop}) were not kept while decoding")
            first, data = found
            out[:, lo - start : hi - start] = data[:, lo - first : hi - first]
        return out

    def read_mean(self, start: int, stop: int) -> np.ndarray:
        """`channel_mean(read(start, stop))`."""
        return channel_mean(self.read(start, stop))

    def _segment(self, start: int, stop: int) -> tuple[int, np.ndarray] | None:
        lo, hi = max(start, 0), min(stop, self.frames)
        if hi <= lo:
            return (0, np.zeros((self.channels, 0), np.float32))
        for first, data in self._segments:
            if first <= lo and hi <= first + data.shape[1]:
                return first, data
        return None

    def __enter__(self) -> DecodedRanges:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


STREAM_CHUNK = 1 << 16
"""Samples per channel libsndfile decodes at a time in `decode_ranges`."""


@dataclass(frozen=True)
class _Header:
    """What a decoder yields first: the rate and the header's length (0: unknown)."""

    sample_rate: int
    declared: int
    check_length: bool  # refuse fewer samples than declared (as load_audio does for libsndfile)


Decoder = Callable[[Source], Iterator[Any]]
"""Yields a `_Header`, then the (channels, n) float32 pieces of the file in order."""


def decode_ranges(
    item: Any, needed: Callable[[int, int], list[tuple[int, int]]], *, mix: bool
) -> DecodedRanges | None:
    """Decode an Ogg or mp3 file (libsndfile) or a file PyAV reads front to back, keeping only
    the sample ranges `needed(frames, sample_rate)` returns (long recordings need only their
    clips). mp3 is read whole in one call (libsndfile's mp3 decoder gives other samples when read
    in pieces), so it holds the (n, channels) float32 array once, where `load_audio` needs two.

    The ranges depend on the exact sample count, known only at the end: the header's count
    (ranges widened by 1 s + 0.1% of it on each side) decides what is kept, and if the counted
    length needs other samples the file is decoded again keeping exactly those (also when the
    header gives no length). The samples are the ones `load_audio` returns.

    Args:
        item: a path, bytes or a binary file object (arrays and tuples give None).
        needed: the [lo, hi) sample ranges wanted from a file of `frames` samples at a rate.
        mix: keep the channel average (`channel_mean`) instead of every channel.

    Returns:
        The kept ranges, or None for items to decode with `load_audio`: arrays, WAV / FLAC / ...
        (`open_seekable` reads those), bytes only FFmpeg reads, missing, empty or unreadable
        files.

    Raises:
        DecodeError: the file is truncated, corrupt, or has no samples. `load_audio` may still
            decode with FFmpeg a file libsndfile fails on mid-way: callers fall back to it.
    """
    if isinstance(item, (tuple, dict)):
        return None
    source = to_source(item)
    if source.array is not None:
        return None
    try:
        with source.open() as f:
            cut = _ogg_truncated(f)
    except BadInput:
        return None
    if cut:
        raise DecodeError(f"truncated file: {cut}", source=source.name)
    decoder = _av_decode if source.suffix in AV_SUFFIXES else _soundfile_decoder(source)
    if decoder is None:
        return None

    def widened(declared: int, rate: int) -> list[tuple[int, int]]:
        margin = rate + declared // 1000
        return [(lo - margin, hi + margin) for lo, hi in needed(declared, rate)] if declared else []

    kept, guessed = _keep(decoder, source, widened, mix)
    if guessed and kept.covers(needed(kept.frames, kept.sample_rate)):
        return kept
    return _keep(decoder, source, lambda _, rate: needed(kept.frames, rate), mix)[0]


def _keep(
    decoder: Decoder,
    source: Source,
    ranges_for: Callable[[int, int], list[tuple[int, int]]],
    mix: bool,
) -> tuple[DecodedRanges, bool]:
    """Decode everything, keeping the samples in `ranges_for(declared, rate)` (past the end:
    zeros). Returns the kept ranges and whether the header gave a length."""
    name = source.name
    pieces = decoder(source)
    header: _Header = next(pieces)
    merged: list[list[int]] = []
    wanted = ranges_for(header.declared, header.sample_rate)
    for lo, hi in sorted((max(lo, 0), hi) for lo, hi in wanted if hi > max(lo, 0)):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    buffers: list[np.ndarray | None] = [None] * len(merged)
    pos, channels = 0, 0
    for chunk in pieces:
        if channels and chunk.shape[0] != channels:
            found = sorted({channels, chunk.shape[0]})
            raise DecodeError(f"channel count changes within the stream {found}", source=name)
        channels = chunk.shape[0]
        if not np.isfinite(chunk).all():
            raise DecodeError("decoded samples contain NaN or infinity", source=name)
        n = chunk.shape[1]
        for k, (lo, hi) in enumerate(merged):
            a, b = max(lo, pos), min(hi, pos + n)
            if a < b:
                part = chunk[:, a - pos : b - pos]
                part = channel_mean(part) if mix else part
                if buffers[k] is None:
                    buffers[k] = np.zeros((part.shape[0], hi - lo), np.float32)
                buffers[k][:, a - lo : b - lo] = part
        pos += n
    if not pos or not channels:
        raise DecodeError("no audio samples", source=name)
    declared = header.declared
    if header.check_length and pos < declared - max(declared // 100, 4096):
        raise DecodeError(f"truncated file: {pos} of {declared} declared samples", source=name)
    kept = [(lo, buf) for (lo, _), buf in zip(merged, buffers, strict=True) if buf is not None]
    return DecodedRanges(kept, pos, header.sample_rate, name), bool(declared)


def _target(source: Source) -> Any:
    return str(source.path) if source.path is not None else io.BytesIO(source.data or b"")


def _joined(pieces: list[np.ndarray]) -> list[np.ndarray]:
    """(channels, n) pieces side by side (as they are if the channel count changes: `_keep`
    reports it)."""
    if len(pieces) == 1 or len({p.shape[0] for p in pieces}) > 1:
        return pieces
    return [np.concatenate(pieces, axis=1)]


def _soundfile_decoder(source: Source) -> Decoder | None:
    """The decoder of an Ogg (Vorbis, Opus, FLAC in Ogg) or mp3 file libsndfile reads, else None."""
    import soundfile as sf

    if source.suffix and source.suffix not in SOUNDFILE_SUFFIXES:
        return None
    try:
        with sf.SoundFile(_target(source)) as f:
            kind = f.format
    except Exception:  # load_audio will name the problem
        return None
    return {"OGG": _ogg_decode, "MP3": _mp3_decode}.get(kind)


def _ogg_decode(source: Source) -> Iterator[Any]:
    """libsndfile's Ogg decoders give the same samples read in pieces as read whole."""
    for data in _soundfile_reads(source, STREAM_CHUNK):
        yield data if isinstance(data, _Header) else np.ascontiguousarray(data.T)


def _mp3_decode(source: Source) -> Iterator[Any]:
    """One whole read: libsndfile's mp3 decoder gives other samples after some read boundaries
    (errors up to 0.45), so only the (n, channels) float32 array is held, not its copies."""
    for data in _soundfile_reads(source, -1):
        if isinstance(data, _Header):
            yield data
            continue
        for start in range(0, data.shape[0], STREAM_CHUNK):
            yield np.ascontiguousarray(data[start : start + STREAM_CHUNK].T)


def _soundfile_reads(source: Source, frames: int) -> Iterator[Any]:
    """A `_Header`, then (n, channels) float32 reads of `frames` samples (-1: all)."""
    import soundfile as sf

    try:
        with sf.SoundFile(_target(source)) as f:
            if f.samplerate <= 0:
                raise DecodeError("the file declares no sample rate", source=source.name)
            yield _Header(f.samplerate, max(f.frames, 0), check_length=True)
            while len(data := f.read(frames, dtype="float32", always_2d=True)):
                yield data
    except DecodeError:
        raise
    except Exception as e:  # libsndfile reports corrupt data with several exception types
        raise DecodeError(f"cannot decode audio ({_reason(e)})", source=source.name) from None


def _av_decode(source: Source) -> Iterator[Any]:
    """A `_Header`, then the pieces `_decode_av` concatenates, one decoded frame at a time."""
    import av

    try:
        with av.open(_target(source), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise DecodeError("no audio track", source=source.name)
            stream = container.streams.audio[0]
            rate = stream.rate or (stream.codec_context.sample_rate if stream.codec_context else 0)
            if not rate or rate <= 0:
                raise DecodeError("the file declares no sample rate", source=source.name)
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / 1e6
            yield _Header(int(rate), max(round(seconds * rate), 0), check_length=False)
            # Planar float at the stream's own rate and layout: (channels, n) per frame, handed
            # on in blocks of about STREAM_CHUNK samples (fewer, larger numpy operations).
            resampler = av.AudioResampler(format="fltp")
            block: list[np.ndarray] = []
            for frame in itertools.chain(container.decode(stream), [None]):
                for out in resampler.resample(frame):
                    block.append(out.to_ndarray().astype(np.float32, copy=False))
                if block and (frame is None or sum(b.shape[1] for b in block) >= STREAM_CHUNK):
                    yield from _joined(block)
                    block = []
    except DecodeError:
        raise
    except Exception as e:  # FFmpeg reports corrupt data with many exception types
        raise DecodeError(f"cannot decode audio ({_reason(e)})", source=source.name) from None


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
        target = str(source.path) if source.path is not None else io.BytesIO(source.data)
        with sf.SoundFile(target) as f:
            data = f.read(dtype=_NATIVE_INT.get(f.subtype, "float32"), always_2d=True)
            return data, f.samplerate, f.frames, f.extra_info
    except Exception as e:  # libsndfile reports corrupt data with several exception types
        raise DecodeError(f"cannot decode audio ({_reason(e)})", source=source.name) from None


_OGG_TAIL = 1 << 17  # bytes: more than two of the largest Ogg pages (65,307 bytes)


def _ogg_truncated(f: Any) -> str | None:
    """Why an Ogg file (Vorbis, Opus, FLAC, ...) is cut short, or None (also for other files).

    libsndfile and FFmpeg decode the pages that are present without complaint. A whole Ogg
    stream ends with a page flagged end-of-stream; a cut one ends inside a page or after a page
    without the flag. The pages in the file's last 128 KiB are walked from the first offset
    where a chain of pages starts: page lengths are self-delimiting, so a stray "OggS" inside
    packet data does not start a chain (it must reach the end, or at least one whole page must
    precede a cut one).
    """
    if f.read(4) != b"OggS":
        return None
    start = max(f.seek(0, io.SEEK_END) - _OGG_TAIL, 0)
    f.seek(start)
    tail = f.read()
    at = tail.find(b"OggS")
    while at >= 0:
        pos, flags = at, 0
        while tail.startswith(b"OggS", pos):
            end = pos + 27 + (tail[pos + 26] if pos + 26 < len(tail) else 255)
            end += sum(tail[pos + 27 : end]) if end <= len(tail) else 0
            if end > len(tail):  # the page (or its header) runs past the end of the file
                if pos > at or start + at == 0:
                    return "the last Ogg page is incomplete"
                break
            flags, pos = tail[pos + 5], end
        if pos == len(tail) and pos > at:
            return None if flags & 4 else "the Ogg stream ends without its last page"
        if pos > at and pos + 4 > len(tail) and tail[pos:] == b"OggS"[: len(tail) - pos]:
            return "the last Ogg page is incomplete"  # cut inside the capture pattern
        at = tail.find(b"OggS", at + 1)
    return None


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
    import av

    chunks: list[np.ndarray] = []
    try:
        target = str(source.path) if source.path is not None else io.BytesIO(source.data)
        with av.open(target, metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise DecodeError("no audio track", source=source.name)
            stream = container.streams.audio[0]
            # Planar float at the stream's own rate and layout: (channels, n) per frame.
            resampler = av.AudioResampler(format="fltp")
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
            rate = stream.rate or (stream.codec_context.sample_rate if stream.codec_context else 0)
    except DecodeError:
        raise
    except Exception as e:  # FFmpeg reports corrupt data with many exception types
        raise DecodeError(f"cannot decode audio ({_reason(e)})", source=source.name) from None
    if not chunks:
        raise DecodeError("no audio samples", source=source.name)
    channels = {c.shape[0] for c in chunks}
    if len(channels) > 1:
        raise DecodeError(
            f"channel count changes within the stream {sorted(channels)}", source=source.name
        )
    return _checked(
        np.concatenate(chunks, axis=1).astype(np.float32, copy=False), rate, source.name
    )


def _checked(samples: np.ndarray, rate: int, name: str) -> Waveform:
    if samples.shape[1] == 0 or samples.shape[0] == 0:
        raise DecodeError("no audio samples", source=name)
    if not rate or rate <= 0:
        raise DecodeError("the file declares no sample rate", source=name)
    if not np.isfinite(samples).all():
        raise DecodeError("decoded samples contain NaN or infinity", source=name)
    return Waveform(np.ascontiguousarray(samples), int(rate), name)


def _reason(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the buffer", text)
    return text if len(text) <= 200 else text[:197] + "..."
