"""A tiny space for SpaceModel and task tests: items are numbers or lists of numbers.

An image item `x` (a float, or a list of floats for several clips) becomes clips of shape (1, 4)
`[x, 1, x^2, 0]`; the tower is a fixed random linear map to 8-d. Text items are words, embedded by
a table with padding-free variable lengths (token ids 1..len(word)) to exercise collates. The
item "bad" raises `DecodeError`.
"""

from __future__ import annotations

from typing import Any

import torch

from openbind.errors import DecodeError
from openbind.space.encoder import Encoder
from openbind.space.model import SpaceModel
from openbind.types import Modality

DIM = 8


def image_transform(item: Any) -> torch.Tensor:
    if item == "bad":
        raise DecodeError("cannot decode", source=item)
    values = item if isinstance(item, list) else [item]
    x = torch.tensor(values, dtype=torch.float32)[:, None]  # (S, 1)
    return torch.cat([x, torch.ones_like(x), x**2, torch.zeros_like(x)], dim=1)  # (S, 4)


def text_transform(item: Any) -> torch.Tensor:
    if not isinstance(item, str) or item == "bad":
        raise DecodeError("not a word", source=str(item))
    return torch.tensor([[ord(c) % 50 + 1 for c in item]])  # (1, L) ids, 0 = padding


def pad(clips: list[torch.Tensor]) -> torch.Tensor:
    longest = max(t.shape[1] for t in clips)
    return torch.cat([torch.nn.functional.pad(t, (0, longest - t.shape[1])) for t in clips])


class ImageTower(torch.nn.Module):
    modality = Modality.IMAGE
    out_dim = DIM
    logit_scale = 10.0

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.proj = torch.nn.Linear(4, DIM)
        self.proj.weight.data = torch.randn(DIM, 4, generator=g)
        self.proj.bias.data = torch.randn(DIM, generator=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class TextTower(torch.nn.Module):
    modality = Modality.TEXT
    out_dim = DIM

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.table = torch.nn.Embedding(51, DIM, padding_idx=0)
        self.table.weight.data[1:] = torch.randn(50, DIM, generator=g)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids).sum(1)  # padding rows are zero


def make_space(
    model_id: str = "toy_space.v1", *, batch_size: int = 4, ordered: bool = False
) -> SpaceModel:
    """Image + text toy space (no audio tower); `ordered` batches text longest first."""
    encoders = {
        "image": Encoder(ImageTower(), image_transform),
        "text": Encoder(
            TextTower(), text_transform, collate=pad, order_key=len if ordered else None
        ),
    }
    return SpaceModel(model_id, encoders, DIM, batch_size=batch_size)
