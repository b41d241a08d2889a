"""Long compressed audio decoded front to back, keeping only the samples the clips need.

WAV / FLAC / AIFF files seek exactly (`openbind.io.audio.open_seekable`); Ogg, mp3 and the files
PyAV reads do not, so `decode_ranges` decodes them in pieces and keeps only given sample ranges:
memory is bounded by the clips, not the recording. The samples are the ones `load_audio` gives.
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
    soundfile_pieces,
    target,
)
from openbind.io.sources import Source, to_source

__all__ = ["DecodedRanges", "decode_ranges", "merge_ranges"]


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
            cut = ogg_truncation(f)
    except BadInput:
        return None
    if cut:
        raise DecodeError(f"truncated file: {cut}", source=source.name)
    decoder = av_pieces if source.suffix in AV_SUFFIXES else _soundfile_decoder(source)
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


def _soundfile_decoder(source: Source) -> Decoder | None:
    """The decoder of an Ogg (Vorbis, Opus, FLAC in Ogg) or mp3 file libsndfile reads, else None."""
    import soundfile as sf

    if source.suffix and source.suffix not in SOUNDFILE_SUFFIXES:
        return None
    try:
        with sf.SoundFile(target(source)) as f:
            kind = f.format
    except Exception:  # load_audio will name the problem
        return None
    return {"OGG": _ogg_decode, "MP3": _mp3_decode}.get(kind)


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
