"""The one build path of every family: card -> weights -> key map -> meta build -> strict load -> space.

A family's builder (`zoo/<family>.py`, named by its cards) says only what differs between
families: how to construct its towers and which checkpoint keys they need. The rest is here:

1. `resolve_weights`: the card's weight source (URL files, a Hugging Face repository at a pinned
   commit, a local folder, installed packages), or the user's `weights` path instead;
2. `load_module`: read only the needed keys, translate them with the family's key map
   (`openbind.keymap`), build the module on the meta device (no memory, no init), check keys and
   shapes strictly, and assign the loaded tensors as its parameters (no copy);
3. `transforms`: the preprocessing of every modality from the card (typed configs), and
4. `build_space`: all of it assembled into a `SpaceModel` (one `Encoder` per modality).

Example:
    >>> def build(card, *, modalities, weights=None):
    ...     def towers(path):
    ...         model = load_module(lambda: ToyModel(config), path, key_map=HF_TO_TOY)
    ...         return {m: model.tower(m) for m in modalities}
    ...     return build_space(card, modalities=modalities, weights=weights, towers=towers)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from openbind import checkpoint, hub
from openbind.cards import ModelCard, Packaged, Preprocess
from openbind.config import from_dict
from openbind.errors import ConfigError, MissingModality
from openbind.keymap import KeyMap
from openbind.keymap import apply as apply_key_map
from openbind.space.encoder import Encoder, Transform
from openbind.space.model import SpaceModel
from openbind.types import Modality

M = TypeVar("M", bound=torch.nn.Module)

__all__ = [
    "build_space",
    "import_path",
    "load_module",
    "preprocess_config",
    "resolve_weights",
    "transforms",
]


def resolve_weights(
    card: ModelCard,
    weights: str | Path | None = None,
    *,
    offline: bool | None = None,
    parts: Iterable[str] | None = None,
) -> Path | None:
    """The weights to load for `card`: `weights` if given, else its source, fetched if needed.

    Args:
        card: the model card.
        weights: a local file or folder replacing the card's source (`--weights PATH`).
        offline: never download (default: `OPENBIND_OFFLINE` / `HF_HUB_OFFLINE`).
        parts: for a `Parts` source, the parts the load needs (default: all).

    Returns:
        A checkpoint file or folder (for `Parts`, a folder with one subfolder per part); None for
        `Packaged` weights (the family finds them).

    Raises:
        MissingWeights: `weights` or the card's local folder does not exist, or the files are not
            cached while offline (the message names the card, the source and `--weights`).
        ChecksumMismatch, DownloadError: see `openbind.hub.fetch`.
    """
    if weights is None and isinstance(card.weights, Packaged):
        return None
    return hub.resolve_weights(card, weights, offline=offline, parts=parts)


def load_module(
    make: Callable[[], M],
    path: str | Path,
    *,
    key_map: KeyMap | None = None,
    prefixes: Sequence[str] | None = None,
) -> M:
    """Build `make()` on the meta device and load its weights strictly from `path`.

    Args:
        make: constructs the module (called under `torch.device("meta")`).
        path: a checkpoint file, a converted folder or a Hugging Face folder.
        key_map: translates the checkpoint's keys to the module's (None: they already match).
        prefixes: read only checkpoint keys starting with one of these (None: all).

    Returns:
        The module in eval mode, its parameters the loaded tensors (file-backed where the format
        allows).

    Raises:
        CheckpointMismatch: keys the map cannot translate, or missing, unexpected or wrongly
            shaped keys (all listed).
        WeightsError: the file is damaged or of an unknown format.
    """
    state = checkpoint.load_state_dict(path, prefixes=prefixes)
    state = apply_key_map(key_map, state, source=str(path))
    with torch.device("meta"):
        module = make()
    expected = {k: v.shape for k, v in module.state_dict().items()}
    checkpoint.check_keys(expected, state, source=str(path))
    module.load_state_dict(state, strict=True, assign=True)
    return module.eval()


def import_path(path: str) -> Any:
    """The object named by "module:name"."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def preprocess_config(spec: Preprocess) -> Any | None:
    """The typed config of `spec` (its class built from the stored settings), or None.

    Raises:
        ConfigError: a setting the config class does not have, or of the wrong type.
    """
    if not spec.config:
        return None
    return from_dict(import_path(spec.config), dict(spec.settings))


def transforms(
    card: ModelCard,
    modalities: Iterable[Modality],
    defaults: Mapping[str, Preprocess] | None = None,
) -> dict[Modality, Transform]:
    """The transform of each of `modalities`, from the card's preprocessing (else `defaults`).

    Raises:
        ConfigError: a modality has no preprocessing in the card nor in `defaults`.
    """
    out: dict[Modality, Transform] = {}
    for m in modalities:
        spec = card.preprocess.get(m.value) or (defaults or {}).get(m.value)
        if spec is None:
            raise ConfigError(f"{card.name}: no preprocessing for {m.value} in its card")
        config = preprocess_config(spec)
        cls = import_path(spec.transform)
        out[m] = cls() if config is None else cls(config)
    return out


def build_space(
    card: ModelCard,
    *,
    modalities: Sequence[Modality],
    weights: str | Path | None,
    towers: Callable[[Path | None], Mapping[Modality, torch.nn.Module | Encoder]],
    defaults: Mapping[str, Preprocess] | None = None,
    parts: Iterable[str] | None = None,
    **space_options: Any,
) -> SpaceModel:
    """The `SpaceModel` of `card` with the towers of `modalities`.

    Its `dim` is the towers' `out_dim` when they all have the same one, else the card's.

    Args:
        card: the model card.
        modalities: the towers to build (the others are never read from disk).
        weights: a local file or folder replacing the card's source (`--weights PATH`).
        towers: builds the towers from the resolved weights (usually with `load_module`); a bare
            module gets the card's transform, an `Encoder` is used as it is (a tower whose
            preprocessing comes with its own weights, or one with its own collate).
        defaults: the family's preprocessing for modalities the card leaves out.
        parts: for a `Parts` source, the parts these modalities need (default: all).
        space_options: passed to `SpaceModel` (batch_size, workers).

    Raises:
        MissingWeights, CheckpointMismatch, WeightsError: see `resolve_weights`, `load_module`.
        MissingModality: `towers` did not build a requested modality.
        ConfigError: a bare tower's modality has no preprocessing in the card nor in `defaults`.
    """
    built = dict(towers(resolve_weights(card, weights, parts=parts)))
    lost = [m.value for m in modalities if m not in built]
    if lost:
        raise MissingModality(f"{card.name}: no {', '.join(lost)} tower was built")
    bare = [m for m, t in built.items() if not isinstance(t, Encoder)]
    made = transforms(card, bare, defaults)
    encoders = {m: t if isinstance(t, Encoder) else Encoder(t, made[m]) for m, t in built.items()}
    # The towers' own width when they agree (a local folder may hold another size than the card's)
    dims = {getattr(e.tower, "out_dim", None) for e in encoders.values()} - {None}
    dim = dims.pop() if len(dims) == 1 else card.dim
    return SpaceModel(card.name, encoders, dim, **space_options)
