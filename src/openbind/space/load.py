"""`openbind.load`: build a registered space, with only the towers asked for."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

import torch

from openbind import registry
from openbind.errors import MissingModality
from openbind.space.model import SpaceModel
from openbind.types import Modality


def load(
    name: str,
    *,
    modalities: Sequence[Modality | str] | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    weights: str | Path | None = None,
) -> SpaceModel:
    """Load the space `name` ("family_variant[.tag]", see `openbind models`).

    Args:
        name: registry name; the variant alone picks its default tag.
        modalities: towers to load (default: all of the model's); others are never read from disk.
        device: where the towers run.
        dtype: parameter dtype (float32, or bfloat16/float16 for speed where supported).
        weights: a local weights file or folder to use instead of the cache / download.

    Raises:
        UnknownModel: `name` is not registered (close names are suggested).
        MissingModality: a requested modality is not one the model has.
        MissingWeights: weights are not cached and cannot be downloaded.
    """
    entry = registry.get(name)
    wanted = _check_modalities(entry, modalities)
    module_name, func = entry.builder.split(":")
    build = getattr(importlib.import_module(module_name), func)
    space: SpaceModel = build(entry, modalities=wanted, weights=weights)
    return space.to(device=device, dtype=dtype).eval()


def _check_modalities(
    entry: registry.ModelEntry, modalities: Sequence[Modality | str] | None
) -> tuple[Modality, ...]:
    have = tuple(Modality(m) for m in entry.modalities)
    if modalities is None:
        return have
    wanted = tuple(Modality.parse(m) for m in modalities)
    missing = [m.value for m in wanted if m not in have]
    if missing:
        raise MissingModality(
            f"{entry.name} has no {', '.join(missing)} tower; it has: {', '.join(entry.modalities)}"
        )
    return wanted
