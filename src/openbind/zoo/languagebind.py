"""The LanguageBind family (Zhu et al., ICLR 2024): Hugging Face checkpoint folders -> spaces.

Each published checkpoint (`LanguageBind/LanguageBind_<X>` on the Hugging Face hub) is one folder:
`config.json` plus `pytorch_model.bin` or `model.safetensors` (possibly sharded), holding a CLIP
text tower and one CLIP ViT modality tower. `load_checkpoint` reads such a folder strictly:
every key must map to a tower (`openbind.zoo.hf_clip_keys`), every tower parameter must be
present with its shape; the `position_ids` buffers older transformers saved are accepted and
ignored. Checkpoints saved with unmerged peft LoRA adapters (`lora_r > 0` in the config) are merged
at load (`W + alpha / r * B @ A`) or kept as `openbind.nn.lora` adapters (`merge_lora=False`).

`build` serves one checkpoint as a space (text + its modality); `build_assembled` joins several
checkpoints into one language-anchored space with a single text tower, after checking that their
text towers are identical tensor for tensor.

Example:
    >>> space = openbind.load("languagebind_video_ft")                       # downloads once
    >>> space = openbind.load("languagebind_audio_ft", weights="LanguageBind_Audio_FT/")
    >>> space = openbind.load("languagebind", modalities=["text", "video", "audio"])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from openbind import checkpoint
from openbind.cards import ModelCard
from openbind.encoders.languagebind.config import LanguageBindConfig
from openbind.encoders.languagebind.towers import ClipTextTower, ClipVisionTower
from openbind.errors import CheckpointMismatch, ConfigError, MissingWeights, SpaceMismatch
from openbind.keymap import apply as apply_key_map
from openbind.nn.lora import IN_PROJ, add_lora
from openbind.preprocess.languagebind import text_order_key
from openbind.space.build import build_space, transforms
from openbind.space.encoder import Encoder
from openbind.space.model import SpaceModel
from openbind.types import Modality
from openbind.zoo.hf_clip_keys import (
    TEXT_KEYS,
    VISION_KEYS,
    VISION_LORA_KEYS,
    fold_peft_lora,
    strip_peft_infix,
)

__all__ = [
    "LanguageBindCheckpoint",
    "build",
    "build_assembled",
    "compare_text_towers",
    "hf_weight_files",
    "load_checkpoint",
    "read_config",
]

CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TEXT_PREFIXES = ("text_model.", "text_projection.")


@dataclass
class LanguageBindCheckpoint:
    """The towers read from one checkpoint folder (None for a tower not asked for)."""

    config: LanguageBindConfig
    text: ClipTextTower | None
    vision: ClipVisionTower | None
    source: Path


def read_config(folder: str | Path) -> LanguageBindConfig:
    """The `LanguageBindConfig` of a checkpoint folder.

    Raises:
        MissingWeights: the folder or its `config.json` does not exist.
        ConfigError: `config.json` is not JSON or not a LanguageBind config (the field is named).
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise MissingWeights(f"{folder} is not a folder; a LanguageBind checkpoint is a folder")
    if not path.is_file():
        raise MissingWeights(f"{folder} is not a LanguageBind checkpoint: it has no {CONFIG_FILE}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return LanguageBindConfig.from_hf(data, str(path))


def hf_weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a Hugging Face folder: one file, or the shards its index lists.

    Raises:
        MissingWeights: none of `model.safetensors`, `pytorch_model.bin` or their sharded index.
    """
    folder = Path(folder)
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return [folder / name]
    for name in INDEX_FILES:
        index = folder / name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, AttributeError) as e:
                raise CheckpointMismatch(f"{index}: not a weight index ({e})") from None
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise MissingWeights(f"{folder}: shards listed in {name} are missing: {missing}")
            return [folder / s for s in shards]
    raise MissingWeights(
        f"{folder} has no weights: expected one of {', '.join(WEIGHT_FILES + INDEX_FILES)}"
    )


def _is_text(key: str) -> bool:
    return key.startswith(TEXT_PREFIXES)


def load_checkpoint(
    folder: str | Path,
    *,
    text: bool = True,
    vision: bool = True,
    merge_lora: bool = True,
) -> LanguageBindCheckpoint:
    """Build the towers of a LanguageBind checkpoint folder and load them strictly.

    Args:
        folder: `config.json` + weights in the Hugging Face layout.
        text: build the text tower.
        vision: build the modality tower.
        merge_lora: fold unmerged peft adapters into the weights (else keep `openbind.nn.lora`
            adapters on the tower).

    Raises:
        MissingWeights: no config or weight file (named).
        ConfigError: the config is not a LanguageBind config (the field is named).
        CheckpointMismatch: keys that map to nothing, missing keys or wrong shapes (listed).
    """
    folder = Path(folder)
    config = read_config(folder)
    state: dict[str, torch.Tensor] = {}
    for path in hf_weight_files(folder):
        state.update(checkpoint.load_state_dict(path))
    state = strip_peft_infix(state)
    text_state = {k: v for k, v in state.items() if _is_text(k)}
    vision_state = {k: v for k, v in state.items() if not _is_text(k)}
    source = str(folder)
    text_tower = _load_text(config, text_state, source) if text else None
    vision_tower = (
        _load_vision(config, vision_state, source, merge_lora=merge_lora) if vision else None
    )
    return LanguageBindCheckpoint(config, text_tower, vision_tower, folder)


def _load_text(
    config: LanguageBindConfig, state: Mapping[str, torch.Tensor], source: str
) -> ClipTextTower:
    mapped = apply_key_map(TEXT_KEYS, state, source=source)
    with torch.device("meta"):
        tower = ClipTextTower(config.text, config.dim)
    _strict_load(tower, mapped, source)
    return tower


def _load_vision(
    config: LanguageBindConfig,
    state: Mapping[str, torch.Tensor],
    source: str,
    *,
    merge_lora: bool,
) -> ClipVisionTower:
    is_lora = {k: ".lora_A." in k or ".lora_B." in k for k in state}
    if config.lora.rank and not any(is_lora.values()):
        config_rank = config.lora.rank
        raise CheckpointMismatch(
            f"{source}: config.json says lora_r={config_rank} but the weights have no LoRA "
            "adapters (no lora_A / lora_B keys); set lora_r to 0 in config.json"
        )
    if not config.lora.rank and any(is_lora.values()):
        raise CheckpointMismatch(f"{source}: LoRA adapters in the weights but lora_r is 0")
    adapters: dict[str, torch.Tensor] = {}
    if config.lora.rank and merge_lora:
        try:
            state = fold_peft_lora(state, config.lora.scale)
        except KeyError as e:
            raise CheckpointMismatch(f"{source}: {e.args[0]}") from None
    elif config.lora.rank:
        adapters = apply_key_map(
            VISION_LORA_KEYS, {k: v for k, v in state.items() if is_lora[k]}, source=source
        )
        state = {k: v for k, v in state.items() if not is_lora[k]}
    mapped = apply_key_map(VISION_KEYS, state, source=source)
    with torch.device("meta"):
        tower = ClipVisionTower(config.vision, config.dim, config.modality)
        if adapters:
            _add_adapters(tower, config)
    if adapters:
        mapped = {_adapted_key(tower, k): v for k, v in mapped.items()}
        mapped.update(adapters)
    _strict_load(tower, mapped, source)
    return tower


def _add_adapters(tower: ClipVisionTower, config: LanguageBindConfig) -> None:
    """The adapters the checkpoint's peft model had: every vision attention, or (video) only the
    temporal ones."""
    name = "temporal_attn" if config.lora_targets == "temporal" else "attn"
    for block in tower.trunk.blocks:
        add_lora(getattr(block, name), [IN_PROJ, "out_proj"], config.lora.rank, config.lora.alpha)
    for p in tower.parameters():  # inference: nothing trains unless a trainer says so
        p.requires_grad_(False)


def _adapted_key(tower: torch.nn.Module, key: str) -> str:
    """A plain weight key -> its name once the module has adapters (`…in_proj_weight` ->
    `…parametrizations.in_proj_weight.original`)."""
    if key.endswith(".in_proj_weight"):
        adapted = key.removesuffix("in_proj_weight") + "parametrizations.in_proj_weight.original"
        if adapted in tower.state_dict(keep_vars=True):
            return adapted
    return key


def _strict_load(tower: torch.nn.Module, mapped: Mapping[str, torch.Tensor], source: str) -> None:
    expected = {k: v.shape for k, v in tower.state_dict().items()}
    checkpoint.check_keys(expected, mapped, source=source)
    tower.load_state_dict(dict(mapped), strict=True, assign=True)
    tower.eval()


def compare_text_towers(
    states: Mapping[str, Mapping[str, torch.Tensor]], *, limit: int = 10
) -> None:
    """Check that the text towers of several checkpoints are identical, tensor for tensor.

    Args:
        states: checkpoint name -> its text-tower tensors (HF keys).
        limit: how many differing tensor names the message shows.

    Raises:
        SpaceMismatch: naming the checkpoints and the tensors that differ (or exist in one only).
    """
    names = list(states)
    first = names[0]
    ref = states[first]
    for other in names[1:]:
        cmp = states[other]
        differing = sorted(set(ref) ^ set(cmp))
        differing += [
            k
            for k in ref
            if k in cmp and (ref[k].shape != cmp[k].shape or not torch.equal(ref[k], cmp[k]))
        ]
        if differing:
            shown = ", ".join(differing[:limit])
            more = f" (+{len(differing) - limit} more)" if len(differing) > limit else ""
            raise SpaceMismatch(
                f"the text towers of {first} and {other} differ, so they do not share one space: "
                f"{len(differing)} tensor(s) differ: {shown}{more}"
            )


# -- registry builders ---------------------------------------------------------------------------


def _text_encoder(card: ModelCard, tower: ClipTextTower) -> Encoder:
    """The text tower with the card's tokenizer; long texts are batched together."""
    [transform] = transforms(card, [Modality.TEXT]).values()
    return Encoder(tower, transform, order_key=text_order_key)


def build(
    card: ModelCard,
    *,
    modalities: tuple[Modality, ...],
    weights: str | Path | None = None,
) -> SpaceModel:
    """The registry builder of one LanguageBind checkpoint (`openbind.load` calls it).

    Args:
        card: the checkpoint's card.
        modalities: "text" and/or the checkpoint's modality.
        weights: a local Hugging Face folder (default: the cached / downloaded files).

    Raises:
        ConfigError: the folder holds a checkpoint of another modality.
    """
    want_text = Modality.TEXT in modalities
    want_vision = any(m != Modality.TEXT for m in modalities)
    expected = [m for m in card.modalities if m != Modality.TEXT.value]

    def towers(folder: Path | None) -> dict[Modality, torch.nn.Module | Encoder]:
        assert folder is not None
        ckpt = load_checkpoint(folder, text=want_text, vision=want_vision)
        if ckpt.config.modality not in expected:
            raise ConfigError(
                f"{folder} is a LanguageBind {ckpt.config.modality} checkpoint, but {card.name} "
                f"is {expected[0]}"
            )
        out: dict[Modality, torch.nn.Module | Encoder] = {}
        if ckpt.text is not None:
            out[Modality.TEXT] = _text_encoder(card, ckpt.text)
        if ckpt.vision is not None:
            out[Modality(ckpt.config.modality)] = ckpt.vision
        return out

    # dim: the towers' (a local folder may hold another size than the card's)
    return build_space(card, modalities=modalities, weights=weights, towers=towers)


def build_assembled(
    card: ModelCard,
    *,
    modalities: tuple[Modality, ...],
    weights: str | Path | None = None,
) -> SpaceModel:
    """One language-anchored space from per-modality checkpoints with a single text tower.

    The card's weights are `Parts`, one per checkpoint, named by hub repository
    (`LanguageBind_Video_FT`, ...); `languagebind_cards.ASSEMBLED` says which serves each
    modality. `weights` may be a folder holding those checkpoint folders (the reference's
    `./LanguageBind/<name>` layout). Only the checkpoints of the requested modalities are read
    (text alone: the first one's).

    Raises:
        MissingWeights: a needed checkpoint folder is missing (named).
        SpaceMismatch: the checkpoints' text towers differ (the tensors are named).
    """
    from openbind.zoo.languagebind_cards import ASSEMBLED, REPOS

    wanted = [m for m in modalities if m != Modality.TEXT] or [Modality(next(iter(ASSEMBLED)))]
    part_of = {m: REPOS[ASSEMBLED[m.value]] for m in wanted}

    def towers(root: Path | None) -> dict[Modality, torch.nn.Module | Encoder]:
        assert root is not None
        out: dict[Modality, torch.nn.Module | Encoder] = {}
        text_states: dict[str, dict[str, torch.Tensor]] = {}
        first: LanguageBindConfig | None = None
        for m, part in part_of.items():
            folder = root / part
            if not folder.is_dir():
                raise MissingWeights(
                    f"{root} has no {part}/ folder (the {ASSEMBLED[m.value]} checkpoint); put "
                    f"the Hugging Face folder of LanguageBind/{part} there"
                )
            ckpt = load_checkpoint(folder, text=False, vision=m in modalities)
            if ckpt.config.modality != m.value:
                raise ConfigError(f"{folder} is a {ckpt.config.modality} checkpoint, not {m.value}")
            if first is not None and ckpt.config.dim != first.dim:
                raise SpaceMismatch(
                    f"{folder} is {ckpt.config.dim}-d, the other checkpoints {first.dim}-d"
                )
            first = first or ckpt.config
            if ckpt.vision is not None:
                out[m] = ckpt.vision
            text_states[part] = _read_text_state(folder)
        if len(text_states) > 1:
            compare_text_towers(text_states)
        if Modality.TEXT in modalities and first is not None:
            part = next(iter(text_states))
            out[Modality.TEXT] = _text_encoder(
                card, _load_text(first, text_states[part], str(root / part))
            )
        return out

    return build_space(  # dim: the towers' (the card says the published 768)
        card,
        modalities=modalities,
        weights=weights,
        towers=towers,
        parts=sorted(set(part_of.values())),
    )


def _read_text_state(folder: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for path in hf_weight_files(folder):
        state.update(checkpoint.load_state_dict(path, prefixes=TEXT_PREFIXES))
    return state
