"""Audio files written with PyAV for the decoder and preprocessing tests."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def encode(
    path: Path, x: np.ndarray, codec: str, *, rate: int = 48000, video: bool = False
) -> Path:
    """Write (channels, n) float32 samples at `rate` with PyAV (and a tiny video track if asked)."""
    layout = "mono" if x.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.layout = layout
        if video:
            v = c.add_stream("mpeg4", rate=10)
            v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
            for i in range(5):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), "rgb24")
                for p in v.encode(frame):
                    c.mux(p)
            for p in v.encode():
                c.mux(p)
        for p in _packets(s, x, rate):
            c.mux(p)
    return path


def _packets(stream: av.AudioStream, x: np.ndarray, rate: int) -> list[av.Packet]:
    """All packets of (channels, n) float32 samples encoded by `stream` (layout already set)."""
    ctx = stream.codec_context
    layout = stream.layout.name
    rs = av.AudioResampler(ctx.format.name, layout, rate, frame_size=ctx.frame_size or 1024)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout=layout)
    frame.sample_rate = rate
    packets = [p for f in rs.resample(frame) + rs.resample(None) for p in stream.encode(f)]
    return packets + stream.encode()


def encode_interleaved(path: Path, seconds: tuple[float, ...], *, rate: int = 48000) -> Path:
    """An Ogg Opus file multiplexing one mono tone stream per entry of `seconds`, pages in time
    order (the shorter streams end, with their end-of-stream page, before the file does)."""
    with av.open(str(path), "w", format="ogg") as c:
        packets = []
        for secs in seconds:
            s = c.add_stream("libopus", rate=rate)
            s.layout = "mono"
            t = np.arange(int(secs * rate)) / rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            last = 0.0
            for p in _packets(s, tone, rate):  # a packet without pts keeps its predecessor's time
                last = float(p.pts * p.time_base) if p.pts is not None else last
                packets.append((last, p))
        for _, p in sorted(packets, key=lambda tp: tp[0]):
            c.mux(p)
    return path
