"""The ImageBind family (Girdhar et al., 2023): build a `SpaceModel` with only the towers asked for.

`build` constructs the requested towers on the meta device (no memory, no init), reads only their
keys from the checkpoint (memory-mapped `.pth`, `.safetensors`, or a per-tower folder written by
`openbind convert`), checks them strictly against the model's keys and shapes, and assigns the
loaded tensors as the parameters (no copy).

Example:
    >>> space = openbind.load("imagebind_huge", modalities=["text", "audio"])
    >>> space.encode({"text": ["a dog barking"], "audio": ["bark.wav"]})
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

import torch

from openbind import checkpoint, hub
from openbind.encoders.imagebind import (
    TOWER_NAMES,
    ImageBindConfig,
    ImageBindModel,
    imagebind_key_prefixes,
    imagebind_name,
)
from openbind.errors import ConfigError
from openbind.registry import ModelEntry
from openbind.space.model import SpaceModel, Transform
from openbind.types import Modality

CONFIGS = {"huge": ImageBindConfig.huge, "small": ImageBindConfig.small}
"""Values of a registry entry's `options["config"]` -> config factory."""

__all__ = [
    "CONFIGS",
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
    entry: ModelEntry,
    *,
    modalities: tuple[Modality, ...],
    weights: str | Path | None = None,
) -> SpaceModel:
    """The registry builder of ImageBind spaces (`openbind.load` calls it).

    Args:
        entry: the registered model; `entry.options["config"]` names a `CONFIGS` preset
            (default "huge").
        modalities: openbind modalities to load; image and video share the vision tower.
        weights: a local checkpoint file or converted folder (default: cached / downloaded).

    Raises:
        MissingWeights: no local weights and the file is neither cached nor downloadable.
        CheckpointMismatch: the checkpoint lacks keys of the requested towers, or shapes differ.
    """
    preset = entry.options.get("config", "huge")
    if preset not in CONFIGS:
        raise ConfigError(
            f"{entry.name}: unknown ImageBind config {preset!r}; known: {list(CONFIGS)}"
        )
    config = CONFIGS[preset]()
    model = load_model(config, hub.resolve_weights(entry, weights), modalities)
    return space_of(entry.name, model, modalities)


def space_of(model_id: str, model: ImageBindModel, modalities: Iterable[Modality]) -> SpaceModel:
    """A `SpaceModel` over the towers of `model` serving `modalities`, with their preprocessing.

    Texts are batched longest first (`text_cost`): the text tower cuts each batch after its
    longest real text, so texts of similar length share a batch.
    """
    modalities = tuple(Modality.parse(m) for m in modalities)
    order = {Modality.TEXT: text_cost} if Modality.TEXT in modalities else {}
    return SpaceModel(
        model_id,
        model.towers(modalities),
        transforms(modalities),
        model.config.out_dim,
        order_keys=order,
    )


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
    with torch.device("meta"):
        model = ImageBindModel(config, modalities=names)
    prefixes = [p for name in model.modalities for p in imagebind_key_prefixes(name)]
    state = checkpoint.load_state_dict(path, prefixes=prefixes)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    checkpoint.check_keys(expected, state, source=str(path))
    model.load_state_dict(state, strict=True, assign=True)
    if any(p.dtype != torch.float32 for p in model.parameters()):
        model.float()  # a float16 copy (`openbind convert --dtype float16`) computes in float32
    return model.eval()


def transforms(modalities: Iterable[Modality]) -> dict[Modality, Transform]:
    """The ImageBind preprocessing of each modality: `openbind.preprocess.<m>` with its defaults."""
    out: dict[Modality, Transform] = {}
    for m in modalities:
        module = importlib.import_module(f"openbind.preprocess.{m.value}")
        prefix = m.value.capitalize()  # image -> ImageTransform(ImageConfig())
        out[m] = getattr(module, f"{prefix}Transform")(getattr(module, f"{prefix}Config")())
    return out
