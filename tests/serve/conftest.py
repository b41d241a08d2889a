"""A tiny deterministic colour space for the serve tests.

Text, images, videos and sounds land in RGB space (dim 3): "red", a red picture, a red video and
a low hum share a direction, so search and zero-shot results are known exactly. Every tower
records the batch sizes it was called with.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image, UnidentifiedImageError

from openbind.errors import DecodeError
from openbind.index import Library, Record
from openbind.serve.service import Service
from openbind.space.encoder import Encoder
from openbind.space.model import SpaceModel
from openbind.types import Modality

COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
}


class RecordingTower(torch.nn.Module):
    """Identity tower that remembers the batch size of every call."""

    def __init__(self, modality: Modality) -> None:
        super().__init__()
        self.modality = modality
        self.out_dim = 3
        self.logit_scale = 10.0
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return x.float()


def text_to_rgb(text: str) -> torch.Tensor:
    """Sum of the colours named in `text` (a faint grey if none), shape (1, 3)."""
    v = np.full(3, 0.05)
    for word in re.findall(r"[a-z]+", text.lower()):
        v = v + np.array(COLOURS.get(word, (0.0, 0.0, 0.0)))
    return torch.tensor(v, dtype=torch.float32)[None]


def image_to_rgb(item: object) -> torch.Tensor:
    """Mean colour of an image given as bytes, a path or a PIL image, shape (1, 3)."""
    try:
        im = (
            item
            if isinstance(item, Image.Image)
            else Image.open(io.BytesIO(item) if isinstance(item, bytes) else item)
        )
        im = im.convert("RGB")
    except (UnidentifiedImageError, OSError):
        raise DecodeError("not an image", source=item) from None
    return torch.tensor(np.asarray(im, dtype=np.float32).mean(axis=(0, 1)) / 255 + 0.01)[None]


def audio_to_rgb(item: object) -> torch.Tensor:
    """Pitch as colour: the loudest frequency below 500 Hz is red, to 2 kHz green, above blue."""
    try:
        wave, rate = sf.read(io.BytesIO(item) if isinstance(item, bytes) else item, always_2d=True)
    except (sf.LibsndfileError, RuntimeError):
        raise DecodeError("not audio", source=item) from None
    peak = np.argmax(np.abs(np.fft.rfft(wave.mean(axis=1)))) * rate / len(wave)
    band = 0 if peak < 500 else 1 if peak < 2000 else 2
    v = np.full(3, 0.05)
    v[band] += 1.0
    return torch.tensor(v, dtype=torch.float32)[None]


def video_to_rgb(item: object) -> torch.Tensor:
    """Mean colour of all frames of a video given as bytes or a path, shape (1, 3)."""
    try:
        with av.open(io.BytesIO(item) if isinstance(item, bytes) else str(item)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    except (av.error.FFmpegError, ValueError):
        raise DecodeError("not a video", source=item) from None
    return torch.tensor(np.mean(frames, axis=(0, 1, 2)) / 255 + 0.01, dtype=torch.float32)[None]


def colour_space() -> SpaceModel:
    transforms = {
        Modality.TEXT: text_to_rgb,
        Modality.IMAGE: image_to_rgb,
        Modality.AUDIO: audio_to_rgb,
        Modality.VIDEO: video_to_rgb,
    }
    encoders = {m: Encoder(RecordingTower(m), t) for m, t in transforms.items()}
    return SpaceModel("toy_colour.test", encoders, dim=3)


def wav(hz: float, seconds: float = 0.5, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, 0.5 * np.sin(2 * np.pi * hz * t), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def mp4(rgb: tuple[int, int, int], frames: int = 6) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as c:
        stream = c.add_stream("libx264", rate=6)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(
                np.full((32, 32, 3), rgb, dtype=np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return buf.getvalue()


def png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def space() -> SpaceModel:
    return colour_space()


@pytest.fixture
def service(space: SpaceModel) -> Service:
    # heavy work on threads: these tests read the towers' call records, kept in this process
    return Service(
        space,
        label_sets={"colours": ("red", "green", "blue")},
        max_wait_ms=20,
        processes=False,
    )


LIBRARY_COLOURS = {
    "red": (230, 10, 10),
    "green": (10, 220, 10),
    "blue": (10, 10, 230),
    "yellow": (230, 220, 10),
}


def make_media(root: Path) -> Path:
    """Four colour swatches and two text notes in `root`."""
    (root / "notes").mkdir(parents=True)
    for name, rgb in LIBRARY_COLOURS.items():
        (root / f"{name}.png").write_bytes(png(rgb, size=16))
    (root / "notes" / "sky.txt").write_text("blue sky")
    (root / "notes" / "grass.txt").write_text("green grass")
    return root


def make_library(path: Path, space: SpaceModel, media: Path) -> Library:
    """A committed library of `media` (see `make_media`) in `path`, built with `space`."""
    lib = Library.create(path, model_id=space.model_id, dim=3, roots=[media])
    images = sorted(media.glob("*.png"))
    notes = sorted((media / "notes").glob("*.txt"))
    img = space.encode("image", [p.read_bytes() for p in images])
    txt = space.encode("text", [p.read_text() for p in notes])
    lib.add(img.numpy(), [Record(str(p), Modality.IMAGE) for p in images])
    lib.add(txt.numpy(), [Record(str(p), Modality.TEXT) for p in notes])
    lib.commit()
    for tower in space.towers.values():
        tower.calls.clear()
    return lib


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return make_media(tmp_path / "media")


@pytest.fixture
def library(tmp_path: Path, space: SpaceModel, media_dir: Path) -> Library:
    return make_library(tmp_path / "lib", space, media_dir)


@pytest.fixture
def library_service(space: SpaceModel, library: Library) -> Service:
    return Service(space, library, max_wait_ms=5)
