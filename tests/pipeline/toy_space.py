"""A tiny deterministic space for pipeline, index and CLI tests: vectors from file bytes.

Each item (a file path; for text, a string, as the real text towers take) becomes the byte
histogram of its content, projected by a fixed random matrix. Equal contents give equal vectors,
so a text file and the same string match with cosine 1. Contents starting with b"CORRUPT" raise
`DecodeError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from openbind import registry
from openbind.errors import BadInput, DecodeError
from openbind.space.encoder import Encoder
from openbind.space.model import SpaceModel
from openbind.types import Modality

MODEL_ID = "toyhash_small.v1"
DIM = 16
MODALITIES = ("text", "image", "video", "depth", "imu")  # no audio: tests the "no tower" path


def features(data: bytes, source: Any) -> torch.Tensor:
    if not data or data.startswith(b"CORRUPT"):
        raise DecodeError("corrupt toy file", source=str(source))
    hist = np.bincount(np.frombuffer(data, np.uint8), minlength=256).astype(np.float32)
    return torch.from_numpy(hist / hist.sum())[None, :]  # (1 clip, 256)


def file_transform(item: Any) -> torch.Tensor:
    """Files (paths, or their bytes as a server passes them) of any modality but text."""
    if isinstance(item, bytes):
        return features(item, f"bytes[{len(item)}]")
    return features(Path(item).read_bytes(), item)


def text_transform(item: Any) -> torch.Tensor:
    """Strings only, like the real text towers."""
    if not isinstance(item, str):
        raise BadInput(f"text items must be strings, got {type(item).__name__}")
    return features(item.encode(), item)


class Tower(torch.nn.Module):
    def __init__(self, modality: Modality, seed: int) -> None:
        super().__init__()
        self.modality = modality
        self.out_dim = DIM
        g = torch.Generator().manual_seed(seed)
        self.proj = torch.nn.Linear(256, DIM, bias=False)
        self.proj.weight.data = torch.randn(DIM, 256, generator=g)
        self.proj.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def make_space(modalities: tuple[str, ...] = MODALITIES, *, batch_size: int = 4) -> SpaceModel:
    """The toy space; all towers share one projection, so modalities are comparable."""
    mods = [Modality.parse(m) for m in modalities]
    encoders = {
        m: Encoder(Tower(m, seed=0), text_transform if m is Modality.TEXT else file_transform)
        for m in mods
    }
    return SpaceModel(MODEL_ID, encoders, DIM, batch_size=batch_size)


def build(entry: registry.ModelCard, *, modalities: Any = None, weights: Any = None) -> SpaceModel:
    return make_space(tuple(m.value for m in modalities) if modalities else MODALITIES)


def register(monkeypatch: Any) -> None:
    """Make `openbind.load("toyhash")` build this space, for the duration of one test."""
    registry.list_models()  # load the builtin tables before copying
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_DEFAULT_TAGS", dict(registry._DEFAULT_TAGS))
    registry.register(
        registry.ModelCard(
            MODEL_ID, "tests.pipeline.toy_space:build", MODALITIES, DIM, description="test space"
        ),
        aliases=("toyhash",),
    )
