"""The ImageBind family (Girdhar et al., 2023): build a `SpaceModel` with only the towers asked for.

`build` follows the shared build path (`openbind.space.build`): it resolves the card's weights,
constructs the requested towers on the meta device (no memory, no init), reads only their keys from
the checkpoint (memory-mapped `.pth`, `.safetensors`, or a per-tower folder written by
`openbind convert`), checks them strictly against the model's keys and shapes, and assigns the
loaded tensors as the parameters (no copy). The official checkpoint has openbind's keys, so the
key map is empty (`KEY_MAP = None`); the preprocessing comes from the card
(`zoo.tables.IMAGEBIND_PREPROCESS`).

Example:
    >>> space = openbind.load("imagebind_huge", modalities=["text", "audio"])
    >>> space.encode({"text": ["a dog barking"], "audio": ["bark.wav"]})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import torch

from openbind.cards import ModelCard
from openbind.encoders.imagebind import (
    TOWER_NAMES,
    ImageBindConfig,
    ImageBindModel,
    imagebind_key_prefixes,
    imagebind_name,
)
from openbind.errors import ConfigError
from openbind.keymap import KeyMap
from openbind.space.build import build_space, load_module
from openbind.space.build import transforms as card_transforms
from openbind.space.encoder import Encoder, Transform
from openbind.space.model import SpaceModel
from openbind.types import Modality
from openbind.zoo.tables import IMAGEBIND_PREPROCESS

CONFIGS = {"huge": ImageBindConfig.huge, "small": ImageBindConfig.small}
"""Values of a card's `arch` -> config factory."""

KEY_MAP: KeyMap | None = None
"""The official checkpoint's keys are openbind's (the towers keep the reference's module names)."""

__all__ = [
    "CONFIGS",
    "KEY_MAP",
    "build",
    "imagebind_key_prefixes",
    "key_groups",
    "load_model",
    "space_of",
    "text_cost",
    "transforms",
]


def key_groups() -> dict[str, tuple[str, ...]]:
    """Tower name -> its checkpoint key prefixes, to split a checkpoint per tower.

    Example:
        >>> checkpoint.convert("imagebind_huge.pth", "out", group_of=checkpoint.group_by_prefix(key_groups()))
    """
    return {name: imagebind_key_prefixes(name) for name in TOWER_NAMES}


def build(
    entry: ModelCard,
    *,
    modalities: tuple[Modality, ...],
    weights: str | Path | None = None,
) -> SpaceModel:
    """The registry builder of ImageBind spaces (`openbind.load` calls it).

    Args:
        entry: the model card; its `arch` names a `CONFIGS` preset (default "huge").
        modalities: openbind modalities to load; image and video share the vision tower.
        weights: a local checkpoint file or converted folder (default: cached / downloaded).

    Raises:
        ConfigError: an unknown `arch`, or a card whose `dim` is not the preset's.
        MissingWeights: no local weights and the file is neither cached nor downloadable.
        CheckpointMismatch: the checkpoint lacks keys of the requested towers, or shapes differ.
    """
    preset = entry.arch or "huge"
    if preset not in CONFIGS:
        raise ConfigError(
            f"{entry.name}: unknown ImageBind config {preset!r}; known: {list(CONFIGS)}"
        )
    config = CONFIGS[preset]()
    if entry.dim != config.out_dim:
        raise ConfigError(
            f"{entry.name}: card dim {entry.dim}, but {preset} gives {config.out_dim}"
        )
    space = build_space(
        entry,
        modalities=modalities,
        weights=weights,
        towers=lambda path: load_model(config, path, modalities).towers(modalities),
        defaults=IMAGEBIND_PREPROCESS,
    )
    return _texts_longest_first(space)


def space_of(model_id: str, model: ImageBindModel, modalities: Iterable[Modality]) -> SpaceModel:
    """A `SpaceModel` over the towers of an `ImageBindModel` already in memory (e.g. random
    weights for a benchmark), with the official card's preprocessing."""
    modalities = tuple(Modality.parse(m) for m in modalities)
    made = transforms(modalities)
    towers = model.towers(modalities)
    encoders = {m: Encoder(towers[m], made[m]) for m in modalities}
    return _texts_longest_first(SpaceModel(model_id, encoders, model.config.out_dim))


def _texts_longest_first(space: SpaceModel) -> SpaceModel:
    """Batch texts longest first (`text_cost`): the text tower cuts each batch after its longest
    real text, so texts of similar length share a batch."""
    text = space.encoders.get(Modality.TEXT)
    if text is not None and text.order_key is None:
        space.encoders[Modality.TEXT] = dataclasses.replace(text, order_key=text_cost)
    return space


def text_cost(item: object) -> int:
    """Batching order key of a text item: characters of a string, real ids of a token tensor."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, torch.Tensor):
        return int(item.count_nonzero())
    return 0


def load_model(
    config: ImageBindConfig, path: str | Path, modalities: Iterable[Modality | str]
) -> ImageBindModel:
    """Build the towers serving `modalities` and load their weights strictly from `path`.

    Only the keys of those towers are read; tensors of memory-mapped files stay file-backed.
    A reduced-precision copy (`openbind convert --dtype float16`) is cast to float32 (resident,
    no longer file-backed); `openbind.load(dtype=...)` casts again where the device has it.

    Args:
        config: model sizes.
        path: checkpoint file or converted folder.
        modalities: openbind modalities or reference tower names.

    Raises:
        CheckpointMismatch: missing, unexpected or wrongly shaped keys (all listed).
    """
    names = {imagebind_name(m) for m in modalities}
    prefixes = [p for name in sorted(names) for p in imagebind_key_prefixes(name)]
    model = load_module(
        lambda: ImageBindModel(config, modalities=names), path, key_map=KEY_MAP, prefixes=prefixes
    )
    if any(p.dtype != torch.float32 for p in model.parameters()):
        model.float()  # a float16 copy (`openbind convert --dtype float16`) computes in float32
    return model


def transforms(modalities: Iterable[Modality]) -> dict[Modality, Transform]:
    """ImageBind's preprocessing of each modality (the official card's settings)."""
    from openbind import registry

    return card_transforms(registry.get("imagebind_huge.official"), modalities)
