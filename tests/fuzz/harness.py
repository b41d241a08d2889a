"""Seed files of every format, byte-level mutations, and the oracle every input must satisfy.

The oracle: a transform given any bytes either returns finite float clips of its clip shape
(or int64 ids for text), or raises `BadInput` (`DecodeError`, `LimitExceeded`). Anything else
(another exception type, a NaN output, a crash) is a finding; its input is written to the
findings folder so it can become a regression test. Inputs slower than `slow_s` are reported.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openbind.errors import BadInput
from openbind.types import Modality

MODALITIES = ("image", "video", "audio", "depth", "thermal", "imu", "text")


# -- seeds -----------------------------------------------------------------------------------------


def _pil_bytes(mode: str, size: tuple[int, int], fmt: str, **kw: Any) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(len(fmt) + size[0])
    if mode in ("I;16", "I"):
        a = rng.integers(0, 60000, size[::-1]).astype(np.uint16)
        im = Image.fromarray(a)
    elif mode == "F":
        im = Image.fromarray(rng.random(size[::-1]).astype(np.float32))
    else:
        channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        a = rng.integers(0, 255, (*size[::-1], channels), dtype=np.uint8)
        im = Image.fromarray(a[..., 0] if channels == 1 else a)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _audio_bytes(fmt: str, subtype: str | None, rate: int = 16000, seconds: float = 0.6) -> bytes:
    import soundfile as sf

    t = np.arange(int(rate * seconds)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 220 * t)]).T
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _m4a_bytes() -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        x = (0.2 * np.sin(np.arange(8000) / 5)).astype(np.float32)[None]
        for start in range(0, x.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                x[:, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, start
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def seeds(modality: str) -> list[bytes]:
    """Small valid files of every format the modality reads (built in memory, deterministic)."""
    if modality == "image":
        return [
            _pil_bytes("RGB", (40, 30), "PNG"),
            _pil_bytes("RGBA", (30, 40), "PNG"),
            _pil_bytes("RGB", (48, 32), "JPEG", quality=80),
            _pil_bytes("RGB", (32, 32), "GIF"),
            _pil_bytes("RGB", (32, 24), "WEBP"),
            _pil_bytes("RGB", (24, 32), "TIFF"),
            _pil_bytes("RGB", (20, 20), "BMP"),
        ]
    if modality == "video":
        from tests.io.synth_video import make_video

        return [
            make_video(n=12, size=(64, 48)),
            make_video(n=10, size=(48, 32), codec="mpeg4", b_frames=0),
            make_video(n=8, size=(32, 32), codec="mpeg4", b_frames=0, container="avi"),
        ]
    if modality == "audio":
        return [
            _audio_bytes("WAV", "PCM_16"),
            _audio_bytes("FLAC", "PCM_16"),
            _audio_bytes("OGG", "VORBIS"),
            _audio_bytes("MP3", "MPEG_LAYER_III"),
            _audio_bytes("AIFF", "PCM_16"),
            _m4a_bytes(),
        ]
    if modality == "depth":
        return [
            _pil_bytes("I;16", (32, 24), "PNG"),
            _pil_bytes("F", (24, 24), "TIFF"),
            _npy_bytes(np.random.default_rng(1).random((16, 20)).astype(np.float32)),
        ]
    if modality == "thermal":
        return [
            _pil_bytes("L", (32, 24), "PNG"),
            _pil_bytes("I;16", (24, 32), "TIFF"),
            _pil_bytes("RGB", (20, 20), "JPEG"),
        ]
    if modality == "imu":
        rows = "\n".join(
            ",".join(f"{v:.4f}" for v in (k / 100, *np.sin(np.arange(6) + k / 10)))
            for k in range(60)
        )
        return [
            ("t,ax,ay,az,gx,gy,gz\n" + rows + "\n").encode(),
            _npy_bytes(np.random.default_rng(2).normal(size=(6, 500)).astype(np.float32)),
        ]
    if modality == "text":
        return [b"a dog barking at the mailman\n", "naïve café ✓ 😀".encode()]
    raise ValueError(modality)


# -- mutations -------------------------------------------------------------------------------------

_INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00")
_INTERESTING += (b"\xff\xff\xff\x7f", b"\x00\x00\x01\x00", b"\x10\x27\x00\x00")


def mutate(data: bytes, rng: np.random.Generator, rounds: int | None = None) -> bytes:
    """Apply 1-4 random byte-level mutations: flips, interesting values, cuts, splices."""
    b = bytearray(data)
    for _ in range(rounds or int(rng.integers(1, 5))):
        if not b:
            b = bytearray(rng.bytes(int(rng.integers(1, 64))))
        kind = int(rng.integers(0, 7))
        at = int(rng.integers(0, len(b)))
        if kind == 0:  # flip bits
            b[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:  # an interesting value (sizes, counts, lengths in headers)
            v = _INTERESTING[int(rng.integers(0, len(_INTERESTING)))]
            b[at : at + len(v)] = v
        elif kind == 2:  # truncate
            del b[at:]
        elif kind == 3:  # delete a chunk
            del b[at : at + int(rng.integers(1, 256))]
        elif kind == 4:  # duplicate a chunk
            n = int(rng.integers(1, 256))
            b[at:at] = b[at : at + n]
        elif kind == 5:  # random bytes
            b[at : at + 8] = rng.bytes(8)
        else:  # a header region: the first 64 bytes are where sizes live
            h = int(rng.integers(0, min(len(b), 64)))
            b[h] = int(rng.integers(0, 256))
    return bytes(b)


# -- the oracle ------------------------------------------------------------------------------------


def transforms(light: bool = False) -> dict[str, Callable[[Any], torch.Tensor]]:
    """One default transform per modality (IMU with a default rate, so CSVs without time work).

    `light`: small video and audio outputs (1 clip of 32 x 32 pixels, 1 audio clip): the same
    decoding for a fraction of the preprocessing time (the default test run's sample).
    """
    from openbind.preprocess.audio import AudioConfig, AudioTransform
    from openbind.preprocess.depth import DepthTransform
    from openbind.preprocess.image import ImageTransform
    from openbind.preprocess.imu import ImuConfig, ImuTransform
    from openbind.preprocess.text import TextTransform
    from openbind.preprocess.thermal import ThermalTransform
    from openbind.preprocess.video import VideoConfig, VideoTransform

    video = VideoConfig(clips_per_video=1, spatial_crops=1, size=32, crop_size=32)

    return {
        "image": ImageTransform(),
        "video": VideoTransform(video if light else None),
        "audio": AudioTransform(AudioConfig(clips=1) if light else None),
        "depth": DepthTransform(),
        "thermal": ThermalTransform(),
        "imu": ImuTransform(ImuConfig(default_rate=100.0)),
        "text": TextTransform(),
    }


@dataclass
class Finding:
    """An input the oracle rejected: what happened and the input itself."""

    modality: str
    problem: str
    data: bytes


@dataclass
class Report:
    """What a fuzzing run did, per modality."""

    inputs: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    slowest: dict[str, float] = field(default_factory=dict)
    slow: list[Finding] = field(default_factory=list)


def check(modality: str, transform: Callable[[Any], torch.Tensor], data: bytes) -> str | None:
    """None if `transform(data)` obeys the oracle (an output or a `BadInput`), else the problem."""
    try:
        out = transform(data)
    except BadInput:
        return None
    except Exception as e:  # the finding
        return f"{type(e).__name__}: {str(e)[:300]}"
    if not isinstance(out, torch.Tensor) or out.ndim < 2:
        return f"returned {type(out).__name__} {getattr(out, 'shape', '')}"
    if modality == "text":
        return None if out.dtype == torch.int64 else f"text ids of dtype {out.dtype}"
    if out.dtype != torch.float32 or not torch.isfinite(out).all():
        return f"output {out.dtype} {tuple(out.shape)} not finite float32"
    return None


def fuzz(
    modality: str,
    seconds: float,
    *,
    seed: int = 0,
    max_inputs: int | None = None,
    slow_s: float = 5.0,
    report: Report | None = None,
    transform: Callable[[Any], torch.Tensor] | None = None,
) -> Report:
    """Mutate the modality's seeds for `seconds` (or `max_inputs` inputs, whichever ends first),
    checking every input (the seeds first)."""
    report = report or Report()
    transform = transform or transforms()[modality]
    rng = np.random.default_rng(seed)
    pool = seeds(modality)
    stop = time.monotonic() + seconds
    for n, data in enumerate(_inputs(pool, rng)):
        if time.monotonic() >= stop or (max_inputs is not None and n >= max_inputs):
            break
        start = time.perf_counter()
        problem = check(modality, transform, data)
        took = time.perf_counter() - start
        report.inputs[modality] = report.inputs.get(modality, 0) + 1
        report.slowest[modality] = max(report.slowest.get(modality, 0.0), took)
        if problem is not None:
            report.findings.append(Finding(modality, problem, data))
        if took > slow_s:
            report.slow.append(Finding(modality, f"took {took:.1f} s", data))
    return report


def _inputs(pool: list[bytes], rng: np.random.Generator) -> Iterator[bytes]:
    yield from pool
    while True:
        yield mutate(pool[int(rng.integers(0, len(pool)))], rng)


def save(findings: list[Finding], folder: Path) -> list[Path]:
    """Write each finding's input to `folder` (named by modality and a hash) for reproduction."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in findings:
        path = folder / f"{f.modality}-{hashlib.blake2b(f.data, digest_size=8).hexdigest()}.bin"
        path.write_bytes(f.data)
        out.append(path)
    return out


def modality_of(name: str) -> Modality:
    return Modality.parse(name)
