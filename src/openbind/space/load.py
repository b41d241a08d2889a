"""`openbind.load`: build a registered space from its model card, with only the towers asked for.

The card (`openbind.registry.get(name)`) names the builder of its family; every builder follows
the shared build path of `openbind.space.build`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from openbind import registry
from openbind.errors import ConfigError, MissingModality
from openbind.quantize import optimize
from openbind.space.build import import_path
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
    prepack: bool = False,
) -> SpaceModel:
    """Load the space `name` ("family_variant[.tag]", see `openbind models`).

    Args:
        name: registry name; the variant alone picks its default tag.
        modalities: towers to load (default: all of the model's); others are never read from disk.
        device: where the towers run.
        dtype: parameter dtype: float32, or bfloat16 / float16 where the device computes them
            natively (else float32 is kept, with a `PrecisionWarning`; see `openbind.quantize`).
        weights: a local weights file or folder (a checkpoint, a converted folder, or a Hugging
            Face folder) to use instead of the card's weight source.
        preprocess: per modality, settings that replace those of the model's card (fields of
            that modality's config, e.g. `ImageConfig`): `{"image": {"fast": True}}` trades
            bit-exact image parity for speed.
        int8: dynamic int8 linear layers in the transformer blocks (x86 CPU; float32 with a
            warning elsewhere).
        threads: torch threads for the forward passes (process-wide).
        prepack: swap the block linears for packed oneDNN layers that drop the plain weights
            (CPU, inference only: they leave the state dict). Inference already runs on
            packed weights by default (`openbind.nn.fast.linear`); the swap only saves the
            plain copy where weights are not memory-mapped (e.g. a float16 copy cast up).

    Raises:
        UnknownModel: `name` is not registered (close names are suggested).
        MissingModality: a requested modality is not one the model has.
        MissingWeights: weights are not cached and cannot be downloaded (the message names the
            card, its source and the `weights=` / `--weights` alternative).
        ConfigError: `preprocess` names a modality that is not loaded or an unknown setting.
    """
    entry = registry.get(name)
    wanted = _check_modalities(entry, modalities)
    card = _with_overrides(entry, wanted, preprocess or {})
    space: SpaceModel = import_path(card.builder)(card, modalities=wanted, weights=weights)
    space = space.to(device=device)
    return optimize(space, dtype=dtype, int8=int8, threads=threads, prepack=prepack)


def _with_overrides(
    card: registry.ModelCard,
    wanted: Sequence[Modality],
    preprocess: Mapping[str, Mapping[str, Any]],
) -> registry.ModelCard:
    """`card` with the settings `preprocess` changes merged into its preprocessing (checked here,
    before anything is loaded; the build path then builds the transforms from them)."""
    if not preprocess:
        return card
    specs = dict(card.preprocess)
    for modality, changes in preprocess.items():
        m = Modality.parse(modality)
        spec = specs.get(m.value)
        if m not in wanted or spec is None or not spec.config:
            raise ConfigError(f"preprocess: {card.name} has no configurable {m.value} transform")
        config = import_path(spec.config)
        fields = {f.name for f in dataclasses.fields(config)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ConfigError(
                f"preprocess.{m.value}: unknown setting(s) {unknown}; "
                f"{config.__name__} has {sorted(fields)}"
            )
        specs[m.value] = dataclasses.replace(spec, settings={**spec.settings, **changes})
    return dataclasses.replace(card, preprocess=specs)


def _check_modalities(
    entry: registry.ModelCard, modalities: Sequence[Modality | str] | None
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
