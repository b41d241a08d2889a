"""Long compressed audio decoded front to back, keeping only the samples the clips need.

WAV / FLAC / AIFF files seek exactly (`openbind.io.audio.open_seekable`); Ogg, mp3 and the files
PyAV reads do not, so `decode_ranges` decodes them in pieces and keeps only given sample ranges:
memory is bounded by the clips, not the recording. The samples are the ones `load_audio` gives.

Long Ogg and mp3 files (more than `SEEK_ABOVE_BYTES` of decoded samples) are not decoded front
to back at all: libsndfile seeks to each range and decodes only it, so an hour of mp3 costs what
its clips cost (about 1 s, against 20 s and 1.3 GB for the whole file). Each range is decoded
from 8 mp3 frames before it (the first frames after a seek are wrong); the samples then equal a
whole read's, except that libsndfile's float conversion can differ by one unit in the last
place (6e-8) on some samples. Recordings longer than `max_seconds` raise
`LimitExceeded` from the header, or as soon as decoding passes the limit when the header lies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from openbind.errors import BadInput, DecodeError
from openbind.io.audio import AV_SUFFIXES, SOUNDFILE_SUFFIXES, channel_mean
from openbind.io.audio_decoders import (
    STREAM_CHUNK,
    Header,
    av_pieces,
    ogg_truncation,
    reason,
    soundfile_pieces,
    target,
)
from openbind.io.sources import Source, to_source
from openbind.limits import check_limit

__all__ = ["SEEK_ABOVE_BYTES", "DecodedRanges", "decode_ranges", "merge_ranges"]

SEEK_ABOVE_BYTES = 32 << 20
"""Ogg and mp3 files whose float32 samples would take more than this are read by seeking."""
# Samples decoded before each range and thrown away: mp3 frames borrow bits from the frames
# before them (the bit reservoir) and overlap them (MDCT), so the first frames after a seek come
# out wrong (by up to 0.35 without this; 4 frames of 1,152 samples were enough in tests).
_PRE_ROLL = 8 * 1152


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


Decoder = Callable[[Source], Iterator[Any]]
"""Yields a `Header`, then the (channels, n) float32 pieces of the file in order."""


def decode_ranges(
    item: Any,
    needed: Callable[[int, int], list[tuple[int, int]]],
    *,
    mix: bool,
    max_seconds: float | None = None,
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
        max_seconds: longer recordings raise `LimitExceeded` (None: no limit).

    Returns:
        The kept ranges, or None for items to decode with `load_audio`: arrays, WAV / FLAC / ...
        (`open_seekable` reads those), bytes only FFmpeg reads, missing, empty or unreadable
        files.

    Raises:
        LimitExceeded: the recording is longer than `max_seconds`.
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
            cut = ogg_truncation(f)
    except BadInput:
        return None
    if cut:
        raise DecodeError(f"truncated file: {cut}", source=source.name)
    if source.suffix in AV_SUFFIXES:
        decoder: Decoder | None = av_pieces
    else:
        decoder, seekable = _soundfile_decoder(source, max_seconds)
        if seekable:
            return _seek_ranges(source, needed, mix)
    if decoder is None:
        return None
    decoder = _limited(decoder, max_seconds)

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
    header: Header = next(pieces)
    wanted = ranges_for(header.declared, header.sample_rate)
    merged = merge_ranges([(max(lo, 0), hi) for lo, hi in wanted if hi > max(lo, 0)])
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


def _soundfile_decoder(source: Source, max_seconds: float | None) -> tuple[Decoder | None, bool]:
    """The decoder of an Ogg (Vorbis, Opus, FLAC in Ogg) or mp3 file libsndfile reads (else
    None), and whether the file is long enough to be read by seeking instead."""
    import soundfile as sf

    if source.suffix and source.suffix not in SOUNDFILE_SUFFIXES:
        return None, False
    try:
        with sf.SoundFile(target(source)) as f:
            kind, frames, rate, channels = f.format, f.frames, f.samplerate, f.channels
    except Exception:  # maybe FFmpeg reads it (as load_audio tries next); else it names the problem
        return av_pieces, False
    decoder = {"OGG": _ogg_decode, "MP3": _mp3_decode}.get(kind)
    if decoder is not None and rate > 0:
        _check_seconds(frames / rate, max_seconds, source.name)
    long = decoder is not None and frames * max(channels, 1) * 4 > SEEK_ABOVE_BYTES
    return decoder, long


def _check_seconds(seconds: float, max_seconds: float | None, name: str) -> None:
    check_limit(seconds, max_seconds, "max_duration_s", f"{seconds:,.0f} s of audio", name)


def _limited(decoder: Decoder, max_seconds: float | None) -> Decoder:
    """`decoder` refusing recordings over `max_seconds`: from the header, else while decoding."""
    if max_seconds is None:
        return decoder

    def limited(source: Source) -> Iterator[Any]:
        pieces = decoder(source)
        header: Header = next(pieces)
        if header.declared:
            _check_seconds(header.declared / header.sample_rate, max_seconds, source.name)
        yield header
        pos = 0
        for piece in pieces:
            pos += piece.shape[1]
            _check_seconds(pos / header.sample_rate, max_seconds, source.name)
            yield piece

    return limited


def _seek_ranges(
    source: Source, needed: Callable[[int, int], list[tuple[int, int]]], mix: bool
) -> DecodedRanges:
    """The `needed` ranges of a long Ogg or mp3 file, each decoded alone after a seek."""
    import soundfile as sf

    try:
        with sf.SoundFile(target(source)) as f:
            frames, rate = f.frames, f.samplerate
            segments = []
            for lo, hi in merge_ranges(needed(frames, rate)):
                lo, hi = max(lo, 0), min(hi, frames)
                if hi <= lo:
                    continue
                start = max(lo - _PRE_ROLL, 0)
                f.seek(start)
                data = f.read(hi - start, dtype="float32", always_2d=True)[lo - start :]
                if data.shape[0] != hi - lo:
                    raise DecodeError(
                        f"truncated file: {data.shape[0]} of {hi - lo} samples read at {lo}",
                        source=source.name,
                    )
                part = np.ascontiguousarray(data.T)  # (channels, n)
                if not np.isfinite(part).all():
                    raise DecodeError("decoded samples contain NaN or infinity", source=source.name)
                segments.append((lo, channel_mean(part) if mix else part))
    except DecodeError:
        raise
    except Exception as e:  # libsndfile reports corrupt data with several exception types
        raise DecodeError(f"cannot decode audio ({reason(e)})", source=source.name) from None
    return DecodedRanges(segments, frames, rate, source.name)


def _ogg_decode(source: Source) -> Iterator[Any]:
    """libsndfile's Ogg decoders give the same samples read in pieces as read whole."""
    for data in soundfile_pieces(source, STREAM_CHUNK):
        yield data if isinstance(data, Header) else np.ascontiguousarray(data.T)


def _mp3_decode(source: Source) -> Iterator[Any]:
    """One whole read: libsndfile's mp3 decoder gives other samples after some read boundaries
    (errors up to 0.45), so only the (n, channels) float32 array is held, not its copies."""
    for data in soundfile_pieces(source, -1):
        if isinstance(data, Header):
            yield data
            continue
        for start in range(0, data.shape[0], STREAM_CHUNK):
            yield np.ascontiguousarray(data[start : start + STREAM_CHUNK].T)


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of [a, b) ranges as sorted, disjoint, non-touching ranges."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
