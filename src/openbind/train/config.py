"""The training recipe schema, and reading a YAML recipe with dotted `key=value` overrides.

A recipe is a YAML file whose keys mirror `TrainConfig`; every field has a default except the data
paths. `load_recipe` merges overrides such as `optim.lr=3e-4` or `model.trainable=[audio]`
(values are parsed as YAML), rejects unknown keys (listing the valid ones) and values of the wrong
type (naming the dotted key), and returns frozen dataclasses: the library never sees argparse.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from openbind.encoders.small import TowerConfig
from openbind.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    """Paired training data.

    Attributes:
        train: a CSV/JSONL manifest (one column per modality, paths relative to it) or a folder of
            `.tar` shards.
        val: held-out data in the same forms; "" holds out `val_fraction` of `train` instead.
        val_fraction: share of `train` rows held out when `val` is "".
        batch_size: pairs per process per micro-step (the global batch is this x world size).
        workers: DataLoader worker processes (0 decodes in the training process).
        limit: use at most this many training rows (0: all).
        cache: keep decoded rows in memory after their first use (small sets, costly decoding).
    """

    train: str = ""
    val: str = ""
    val_fraction: float = 0.1
    batch_size: int = 32
    workers: int = 0
    limit: int = 0
    cache: bool = False


@dataclass(frozen=True)
class LoraConfig:
    """Low-rank adapters on the linear projections of trainable towers (LanguageBind-style).

    Attributes:
        rank: adapter rank; 0 disables LoRA (the trainable towers train fully).
        alpha: scale numerator (the update is `alpha / rank * B @ A`).
        targets: names of the `nn.Linear` submodules to adapt (matched on the last name part);
            "in_proj" adapts the fused q/k/v projection of `openbind.nn` attention.
        also_train: parameters that train besides the adapters (name prefixes within the tower,
            e.g. LanguageBind's `post_norm`, `proj`, `cls_token`).
    """

    rank: int = 0
    alpha: float = 16.0
    targets: tuple[str, ...] = ("qkv", "q_proj", "k_proj", "v_proj", "proj", "fc1", "fc2")
    also_train: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """Which towers exist, which train, and what they bind to.

    Attributes:
        anchor: the modality every other one is paired with in the loss.
        space: a registered space (`openbind models`) whose towers are loaded for the modalities
            not in `towers` (e.g. "starter" for its MiniLM text tower); "" for none.
        space_weights: local weights of `space` (a file or folder, as `openbind.load(...,
            weights=...)`); "" for the cached / downloaded ones.
        towers: towers openbind builds, per modality.
        trainable: modalities whose towers train; the default (empty) trains every tower but the
            anchor's.
        init: a run folder or checkpoint whose tower weights are loaded first (e.g. an anchor
            space trained by an earlier recipe); "" for none.
        dim: dimension of the shared space (must match `space` when one is used).
        logit_scale: initial inverse temperature of the loss.
        learn_scale: whether the temperature is learned.
        cache_frozen: remember the outputs of frozen towers per input (exact: they never change),
            so each distinct anchor input, e.g. a caption, runs through its tower once.
    """

    anchor: str = "text"
    space: str = ""
    space_weights: str = ""
    towers: dict[str, TowerConfig] = field(default_factory=dict)
    trainable: tuple[str, ...] = ()
    init: str = ""
    dim: int = 256
    logit_scale: float = 1 / 0.07
    learn_scale: bool = True
    cache_frozen: bool = False


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warmup and cosine decay.

    Attributes:
        lr: peak learning rate.
        weight_decay: decoupled weight decay (not applied to biases, norms and the temperature).
        betas: AdamW betas.
        warmup_steps: linear warmup from 0 to `lr`.
        min_lr_ratio: the cosine decays to `lr * min_lr_ratio`.
        clip_grad: max global gradient norm (0: no clipping).
    """

    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.02
    clip_grad: float = 1.0


@dataclass(frozen=True)
class LoopConfig:
    """The training loop.

    Attributes:
        steps: optimiser steps.
        accum: micro-batches per optimiser step (gradient accumulation).
        precision: "fp32", or "bf16" for autocast (measure first on CPU: `benchmarks/train_step.py`).
        eval_every: validate (retrieval R@1/R@5) every this many steps, and at the end (0: only at
            the end).
        save_every: write `last.ckpt` every this many steps, and at the end.
        log_every: append a line to `metrics.jsonl` every this many steps.
        seed: seeds the initialisation and the data order.
        out: the run folder (checkpoints, metrics, exported towers).
        resume: continue from `out/last.ckpt` when it exists.
        progress: show a tqdm bar (on rank 0).
        threads: torch intra-op threads per process (0: leave torch's default).
    """

    steps: int = 1000
    accum: int = 1
    precision: str = "fp32"
    eval_every: int = 200
    save_every: int = 200
    log_every: int = 10
    seed: int = 0
    out: str = "runs/bind"
    resume: bool = True
    progress: bool = True
    threads: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """A whole training recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    export: str = ""
    """Where to write the trained towers (safetensors + JSON config) at the end; "" for nowhere."""


def load_recipe(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:  # type: ignore[assignment]
    """Read a YAML recipe and apply dotted `key=value` overrides.

    Args:
        path: the recipe file; None starts from the defaults.
        overrides: e.g. `["optim.lr=3e-4", "loop.steps=200", "model.towers.audio.widths=[16,32]"]`.

    Raises:
        ConfigError: unreadable YAML, an unknown key (the valid ones are listed), a value of the
            wrong type (the dotted key is named), or an override without `=`.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read recipe {path}: {e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(
                f"recipe {path} must be a mapping of sections, got {type(loaded).__name__}"
            )
        data = loaded or {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        _set_dotted(data, key.strip().split("."), yaml.safe_load(raw) if raw.strip() else "")
    return build(TrainConfig, data, "")


def to_yaml(config: TrainConfig) -> str:
    """The config as YAML (tuples written as lists), loadable by `load_recipe`."""
    return yaml.safe_dump(_plain(dataclasses.asdict(config)), sort_keys=False)


def build(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass `cls` from a mapping, checking keys and value types recursively."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'recipe'}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" in {prefix}" if prefix else ""
        raise ConfigError(
            f"unknown key(s) {[_join(prefix, k) for k in unknown]}{where}; valid keys: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: _value(hints[name], value, _join(prefix, name)) for name, value in data.items()}
    return cls(**kwargs)


def _value(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {
            _value(key_type, k, key): _value(value_type, v, f"{key}.{k}") for k, v in value.items()
        }
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], v, key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_value(a, v, key) for a, v in zip(args, value, strict=True))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            try:
                return _value(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} does not fit {hint}")
    return _scalar(hint, value, key)


def _scalar(hint: type, value: Any, key: str) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads "3e-4" (no dot) as a string
        except ValueError:
            pass
    if hint is type(None) and value is None:
        return None
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}: expected {hint.__name__}, got {type(value).__name__} {value!r}")


def _set_dotted(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for k in keys[:-1]:
        child = node.setdefault(k, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {'.'.join(keys)}: {k} is not a section")
        node = child
    node[keys[-1]] = value


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x
