"""A tiny deterministic colour space for the serve tests.

Text and images land in RGB space (dim 3): "red" and a red picture share a direction, so search
and zero-shot results are known exactly. Every tower records the batch sizes it was called with.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, UnidentifiedImageError

from openbind.errors import DecodeError
from openbind.index import Library, Record
from openbind.serve.service import Service
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
    """Mean colour of an image given as bytes or a path, shape (1, 3)."""
    try:
        im = Image.open(io.BytesIO(item) if isinstance(item, bytes) else item).convert("RGB")
    except (UnidentifiedImageError, OSError):
        raise DecodeError("not an image", source=item) from None
    return torch.tensor(np.asarray(im, dtype=np.float32).mean(axis=(0, 1)) / 255 + 0.01)[None]


def colour_space() -> SpaceModel:
    towers = {
        Modality.TEXT: RecordingTower(Modality.TEXT),
        Modality.IMAGE: RecordingTower(Modality.IMAGE),
    }
    return SpaceModel(
        "toy_colour.test", towers, {Modality.TEXT: text_to_rgb, Modality.IMAGE: image_to_rgb}, dim=3
    )


def png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def space() -> SpaceModel:
    return colour_space()


@pytest.fixture
def service(space: SpaceModel) -> Service:
    return Service(space, label_sets={"colours": ("red", "green", "blue")}, max_wait_ms=20)


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
    img = space.encode_items("image", [p.read_bytes() for p in images])
    txt = space.encode_items("text", [p.read_text() for p in notes])
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
