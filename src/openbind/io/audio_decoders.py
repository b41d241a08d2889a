"""Low-level audio decoders: a file's samples as a stream of pieces, and cut-file checks.

`load_audio` (whole files) and `decode_ranges` (only the clips' samples of long compressed
files) are built on these. A decoder yields a `Header`, then (channels, n) float32 pieces in
order; errors are `DecodeError`s naming the input.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from openbind.errors import DecodeError
from openbind.io.sources import Source

__all__ = [
    "STREAM_CHUNK",
    "Header",
    "av_pieces",
    "ogg_truncation",
    "reason",
    "soundfile_pieces",
    "target",
]

STREAM_CHUNK = 1 << 16
"""Samples per channel a decoder hands on at a time (libsndfile reads, PyAV frames joined)."""


@dataclass(frozen=True)
class Header:
    """What a decoder yields first: the rate and the header's length (0: unknown)."""

    sample_rate: int
    declared: int
    check_length: bool  # refuse fewer samples than declared (as load_audio does for libsndfile)


def target(source: Source) -> Any:
    """What libsndfile and PyAV open: the path of a file, or the bytes as a buffer."""
    return str(source.path) if source.path is not None else io.BytesIO(source.data or b"")


def _joined(pieces: list[np.ndarray]) -> list[np.ndarray]:
    """(channels, n) pieces side by side (as they are if the channel count changes: `_keep`
    reports it)."""
    if len(pieces) == 1 or len({p.shape[0] for p in pieces}) > 1:
        return pieces
    return [np.concatenate(pieces, axis=1)]


def soundfile_pieces(source: Source, frames: int) -> Iterator[Any]:
    """A `Header`, then (n, channels) float32 reads of `frames` samples (-1: all)."""
    import soundfile as sf

    try:
        with sf.SoundFile(target(source)) as f:
            if f.samplerate <= 0:
                raise DecodeError("the file declares no sample rate", source=source.name)
            yield Header(f.samplerate, max(f.frames, 0), check_length=True)
            while len(data := f.read(frames, dtype="float32", always_2d=True)):
                yield data
    except DecodeError:
        raise
    except Exception as e:  # libsndfile reports corrupt data with several exception types
        raise DecodeError(f"cannot decode audio ({reason(e)})", source=source.name) from None


def av_pieces(source: Source) -> Iterator[Any]:
    """A `Header`, then the (channels, n) float32 pieces of the first audio track, in order."""
    import av

    try:
        with av.open(target(source), metadata_errors="ignore") as container:
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
            yield Header(int(rate), max(round(seconds * rate), 0), check_length=False)
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
        raise DecodeError(f"cannot decode audio ({reason(e)})", source=source.name) from None


_OGG_TAIL = 1 << 17  # bytes: more than two of the largest Ogg pages (65,307 bytes)


def ogg_truncation(f: Any) -> str | None:
    """Why an Ogg file (Vorbis, Opus, FLAC, ...) is cut short, or None (also for other files).

    libsndfile and FFmpeg decode the pages that are present without complaint. A whole Ogg
    stream ends with a page flagged end-of-stream; a cut one ends inside a page or after a page
    without the flag. The pages in the file's last 128 KiB are walked from the first offset
    where a chain of pages starts: page lengths are self-delimiting, so a stray "OggS" inside
    packet data does not start a chain (it must reach the end, or at least one whole page must
    precede a cut one). Multiplexed files interleave the pages of several logical streams
    (serial numbers): each stream met in the tail must end with its flagged page, so a file cut
    just after another stream's last page is caught too.
    """
    if f.read(4) != b"OggS":
        return None
    start = max(f.seek(0, io.SEEK_END) - _OGG_TAIL, 0)
    f.seek(start)
    tail = f.read()
    at = tail.find(b"OggS")
    while at >= 0:
        pos, last_flags = at, {}  # serial number -> flags of its last page
        while tail.startswith(b"OggS", pos):
            end = pos + 27 + (tail[pos + 26] if pos + 26 < len(tail) else 255)
            end += sum(tail[pos + 27 : end]) if end <= len(tail) else 0
            if end > len(tail):  # the page (or its header) runs past the end of the file
                if pos > at or start + at == 0:
                    return "the last Ogg page is incomplete"
                break
            last_flags[tail[pos + 14 : pos + 18]] = tail[pos + 5]
            pos = end
        if pos == len(tail) and pos > at:
            ended = all(flags & 4 for flags in last_flags.values())
            return None if ended else "the Ogg stream ends without its last page"
        if pos > at and pos + 4 > len(tail) and tail[pos:] == b"OggS"[: len(tail) - pos]:
            return "the last Ogg page is incomplete"  # cut inside the capture pattern
        at = tail.find(b"OggS", at + 1)
    return None


def reason(e: Exception) -> str:
    """An exception's message for a `DecodeError`: buffer addresses removed, at most 200 chars."""
    text = str(e).strip() or type(e).__name__
    text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the buffer", text)
    return text if len(text) <= 200 else text[:197] + "..."
