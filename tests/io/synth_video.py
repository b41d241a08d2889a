"""Small synthetic videos written with PyAV for the video tests (no files, no ffmpeg CLI)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np


def frame_value(i: int) -> int:
    """The grey level of frame i: far enough apart to survive lossy coding (steps of 6)."""
    return (i * 6) % 240 + 8


def make_video(
    n: int = 40,
    fps: int = 24,
    size: tuple[int, int] = (64, 48),
    gop: int = 8,
    b_frames: int = 2,
    pts_ms: Sequence[int] | None = None,
    rotation: float | None = None,
    flip: tuple[bool, bool] = (False, False),
    codec: str = "libx264",
    audio: bool = False,
    container: str = "mp4",
    options: dict[str, str] | None = None,
) -> bytes:
    """An MP4 whose frame i is flat grey `frame_value(i)` with a white top-left quarter.

    Args:
        n: frames.
        fps: nominal frame rate.
        size: (width, height).
        gop: keyframe interval.
        b_frames: max consecutive B-frames (reordering makes pts != dts).
        pts_ms: per-frame presentation times in ms (variable frame rate) instead of i / fps.
        rotation: display-matrix rotation in degrees (counter-clockwise, as PyAV reports it).
        flip: (horizontal, vertical) mirroring in the display matrix, applied after `rotation`.
        codec: encoder name.
        audio: also add a silent AAC track.
        container: FFmpeg muxer name ("mp4", "matroska", "avi", "mpegts", ...).
        options: encoder options, e.g. `{"x264-params": "interlaced=1"}`.
    """
    w, h = size
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as c:
        s = c.add_stream(codec, rate=fps, options=options or {})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.gop_size = gop
        s.codec_context.max_b_frames = b_frames
        if codec in ("mpeg4", "mpeg1video", "mpeg2video"):
            s.bit_rate = 4_000_000  # their default rate blurs the grey levels that identify frames
        if pts_ms is not None:
            s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None or any(flip):
            s.set_display_rotation(rotation or 0, hflip=flip[0], vflip=flip[1])
        a_stream = c.add_stream("aac", rate=16000) if audio else None
        for i in range(n):
            a = np.full((h, w, 3), frame_value(i), np.uint8)
            a[: h // 2, : w // 2] = 255
            frame = av.VideoFrame.from_ndarray(a, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a_stream is not None:
            _mux_silence(c, a_stream, seconds=n / fps)
    return buf.getvalue()


def make_audio_only(seconds: float = 1.0) -> bytes:
    """An M4A (AAC in MP4) with no video stream."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        _mux_silence(c, c.add_stream("aac", rate=16000), seconds)
    return buf.getvalue()


def _mux_silence(c: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    samples = int(16000 * seconds)
    for start in range(0, samples, 1024):
        chunk = np.zeros((1, min(1024, samples - start)), np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, start
        for p in stream.encode(frame):
            c.mux(p)
    for p in stream.encode():
        c.mux(p)
