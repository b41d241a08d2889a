"""`openbind.load`: build a registered space, with only the towers asked for."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from openbind import registry
from openbind.errors import ConfigError, MissingModality
from openbind.quantize import optimize
from openbind.space.model import SpaceModel
from openbind.types import Modality


def load(
    name: str,
    *,
    modalities: Sequence[Modality | str] | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | str = torch.float32,
    weights: str | Path | None = None,
    preprocess: Mapping[str, Mapping[str, Any]] | None = None,
    int8: bool = False,
    threads: int | None = None,
) -> SpaceModel:
    """Load the space `name` ("family_variant[.tag]", see `openbind models`).

    Args:
        name: registry name; the variant alone picks its default tag.
        modalities: towers to load (default: all of the model's); others are never read from disk.
        device: where the towers run.
        dtype: parameter dtype: float32, or bfloat16 / float16 where the device computes them
            natively (else float32 is kept, with a `PrecisionWarning`; see `openbind.quantize`).
        weights: a local weights file or folder to use instead of the cache / download.
        preprocess: per modality, settings that replace the model's stored preprocessing
            settings (fields of that modality's config, e.g. `ImageConfig`):
            `{"image": {"fast": True}}` trades bit-exact image parity for speed.
        int8: dynamic int8 linear layers in the transformer blocks (x86 CPU; float32 with a
            warning elsewhere).
        threads: torch threads for the forward passes (process-wide).

    Raises:
        UnknownModel: `name` is not registered (close names are suggested).
        MissingModality: a requested modality is not one the model has.
        MissingWeights: weights are not cached and cannot be downloaded.
        ConfigError: `preprocess` names a modality that is not loaded or an unknown setting.
    """
    entry = registry.get(name)
    wanted = _check_modalities(entry, modalities)
    module_name, func = entry.builder.split(":")
    build = getattr(importlib.import_module(module_name), func)
    space: SpaceModel = build(entry, modalities=wanted, weights=weights)
    for modality, changes in (preprocess or {}).items():
        _override_preprocessing(space, Modality.parse(modality), changes)
    space = space.to(device=device)
    return optimize(space, dtype=dtype, int8=int8, threads=threads)


def _override_preprocessing(space: SpaceModel, m: Modality, changes: Mapping[str, Any]) -> None:
    """Rebuild `m`'s transform from its config with `changes` applied."""
    transform = space.transforms.get(m)
    config = getattr(transform, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        raise ConfigError(f"preprocess: {space.model_id} has no configurable {m.value} transform")
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise ConfigError(
            f"preprocess.{m.value}: unknown setting(s) {unknown}; "
            f"{type(config).__name__} has {sorted(fields)}"
        )
    space.transforms[m] = type(transform)(dataclasses.replace(config, **changes))


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
