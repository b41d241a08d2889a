"""A toy `openbind.Space` for fusion tests: fixed random vectors per item, calls counted."""

from __future__ import annotations

import zlib
from typing import Any

import torch
import torch.nn.functional as F

from openbind.errors import BadInput
from openbind.space.protocol import EncodeReport, ItemError, pick, split_call
from openbind.types import Embeddings, Modality


class ToySpace:
    """Each item's vector is a seeded random unit vector (per space and modality); "bad" items
    raise `BadInput`. `calls[m]` counts the items encoded per modality."""

    def __init__(self, model_id: str, dim: int, modalities: tuple[str, ...], scale: float = 1.0):
        self.model_id, self.dim = model_id, dim
        self._mods = tuple(Modality.parse(m) for m in modalities)
        self.calls: dict[Modality, int] = {m: 0 for m in self._mods}
        self.scale = scale

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return self._mods

    def logit_scale(self, modality: Modality | str) -> float:
        return self.scale

    def vector(self, m: Modality, item: Any) -> torch.Tensor:
        seed = zlib.crc32(f"{self.model_id}/{m.value}/{item}".encode())
        g = torch.Generator().manual_seed(seed)
        return F.normalize(torch.randn(self.dim, generator=g), dim=0)

    def _rows(self, m: Modality, items: list[Any], skip: bool) -> EncodeReport:
        if m not in self._mods:
            from openbind.errors import MissingModality

            raise MissingModality(f"{self.model_id} has no {m.value}")
        rows, kept, errors = [], [], []
        for i, item in enumerate(items):
            self.calls[m] += 1
            if item == "bad":
                if not skip:
                    raise BadInput("bad item").at(i, m.value)
                errors.append(ItemError(i, "bad", "bad item"))
                continue
            rows.append(self.vector(m, item))
            kept.append(i)
        data = torch.stack(rows) if rows else torch.zeros(0, self.dim)
        return EncodeReport(Embeddings(data, m, self.model_id), kept, errors)

    def encode(self, inputs, items=None, *, batch_size=None, progress=None):
        req, single = split_call(inputs, items)
        return pick({m: self._rows(m, xs, False).embeddings for m, xs in req.items()}, single)

    def encode_report(self, inputs, items=None, *, batch_size=None, progress=None):
        req, single = split_call(inputs, items)
        return pick({m: self._rows(m, xs, True) for m, xs in req.items()}, single)

    def features(self, inputs, items=None, *, batch_size=None):
        req, single = split_call(inputs, items)
        return pick(
            {m: self._rows(m, xs, False).embeddings.vectors for m, xs in req.items()}, single
        )

    def to(self, *args, **kwargs):  # what `openbind.load` calls on a built space
        return self

    def eval(self):
        return self


def build_toy(entry, *, modalities, weights=None) -> ToySpace:
    """`openbind.load` builder of toy spaces registered in tests."""
    return ToySpace(entry.name, entry.dim, tuple(entry.modalities))
