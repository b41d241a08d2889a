"""From a `TrainConfig` to a finished run: towers, data, task, `fit`, export.

This is what `openbind train recipe.yaml k=v ...` (and `torchrun ... -m openbind train ...`)
runs. Each piece is an ordinary component (`build_tower`, `PairedDataset`, `BindTask`, `fit`), so a
script can compose them differently without a recipe.
"""

from __future__ import annotations

from pathlib import Path

import torch

from openbind.data.paired import DataReport, PairedDataset
from openbind.data.sources import read_source
from openbind.encoders.small import KINDS, build_tower, build_transform, save_tower
from openbind.errors import BadInput, ConfigError
from openbind.losses import LogitScale
from openbind.nn.lora import add_lora, merge_lora
from openbind.preprocess.common import Collate, Transform
from openbind.train.checkpointing import BEST, LAST, load_checkpoint
from openbind.train.config import TrainConfig, to_yaml
from openbind.train.distributed import SINGLE_PROCESS, DistContext, init_distributed, shutdown
from openbind.train.loop import FitResult, fit
from openbind.train.task import BindTask
from openbind.train.towers import CachedTower
from openbind.types import Modality


def run(cfg: TrainConfig) -> FitResult:
    """Train as the recipe says (joining a DDP group when started by torchrun) and export."""
    dist = init_distributed()
    try:
        if cfg.loop.threads > 0:
            torch.set_num_threads(cfg.loop.threads)
        task, transforms, collates = build_task(cfg, dist)
        train_set, val_set, report = build_data(cfg, transforms, collates)
        if dist.is_main:
            out = Path(cfg.loop.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "recipe.yaml").write_text(to_yaml(cfg))
            print(
                f"data: {report.summary()}; {len(train_set)} train / {len(val_set)} held-out rows"
            )
        result = fit(task, train_set, val_set, cfg, dist=dist)
        if dist.is_main and cfg.export:
            export(task, cfg)
        return result
    finally:
        shutdown(dist)


def build_task(
    cfg: TrainConfig, dist: DistContext = SINGLE_PROCESS
) -> tuple[BindTask, dict[str, Transform], dict[str, Collate]]:
    """The towers (built, loaded from `model.space`, initialised from `model.init`) in a task,
    with the transform and batch collate of each modality.

    Raises:
        ConfigError: a tower kind or modality is unknown, or the anchor has no tower.
    """
    m_cfg = cfg.model
    torch.manual_seed(cfg.loop.seed)
    towers: dict[str, torch.nn.Module] = {}
    transforms: dict[str, Transform] = {}
    collates: dict[str, Collate] = {}
    for name, tower_cfg in m_cfg.towers.items():
        m = _modality(name, "model.towers")
        if tower_cfg.kind not in KINDS:
            raise ConfigError(
                f"model.towers.{name}.kind: unknown kind {tower_cfg.kind!r}; valid: {', '.join(KINDS)}"
            )
        towers[m] = build_tower(m, tower_cfg, m_cfg.dim)
        transforms[m] = build_transform(tower_cfg)
    anchor = _modality(m_cfg.anchor, "model.anchor")
    if anchor not in towers:
        if not m_cfg.space:
            raise ConfigError(
                f"model.anchor: {anchor} has no tower; set model.space or add model.towers.{anchor}"
            )
        import openbind

        space = openbind.load(m_cfg.space, modalities=[anchor], weights=m_cfg.space_weights or None)
        if space.dim != m_cfg.dim:
            raise ConfigError(f"model.dim is {m_cfg.dim} but space {m_cfg.space} is {space.dim}-d")
        encoder = space.encoder(anchor)
        towers[anchor], transforms[anchor] = encoder.tower, encoder.transform
        collates[anchor] = encoder.collate
    if m_cfg.init:
        _init_from(towers, Path(m_cfg.init))
    trainable = [_modality(m, "model.trainable") for m in m_cfg.trainable] or [
        m for m in towers if m != anchor
    ]
    if cfg.lora.rank > 0:
        for m in trainable:
            add_lora(towers[m], cfg.lora.targets, cfg.lora.rank, cfg.lora.alpha)
            for name, p in towers[m].named_parameters():
                if name.startswith(tuple(cfg.lora.also_train)) and cfg.lora.also_train:
                    p.requires_grad_(True)
    if m_cfg.cache_frozen:
        towers = {m: t if m in trainable else CachedTower(t.eval()) for m, t in towers.items()}
    scale = LogitScale(m_cfg.logit_scale, learnable=m_cfg.learn_scale)
    task = BindTask(towers, anchor, trainable=trainable, logit_scale=scale, dist=dist)
    return task, transforms, collates


def build_data(
    cfg: TrainConfig, transforms: dict[str, Transform], collates: dict[str, Collate] | None = None
) -> tuple[PairedDataset, PairedDataset, DataReport]:
    """Training and held-out datasets of the modalities that have transforms.

    Raises:
        BadInput: the data is missing, empty, or lacks a needed column.
    """
    d = cfg.data
    if not d.train:
        raise ConfigError("data.train: no training data given (a manifest or a folder of shards)")
    rows, report = read_source(d.train, list(transforms))
    if d.limit:
        rows = rows[: d.limit]
    train = PairedDataset(
        rows, transforms, report, collates, cache=d.cache, sample_views=True, seed=cfg.loop.seed
    )
    if d.val:
        val_rows, _ = read_source(d.val, list(transforms))
        return train, PairedDataset(val_rows, transforms, report, collates, cache=d.cache), report
    train, val = train.split(d.val_fraction, seed=cfg.loop.seed)
    return train, val, report


def export(task: BindTask, cfg: TrainConfig) -> list[Path]:
    """Write each trained tower (LoRA merged) as `<export><modality>.safetensors` + `.json`."""
    written = []
    for m, tower in task.towers.items():
        if m in task.frozen or m not in cfg.model.towers:
            continue
        merge_lora(tower)
        written += save_tower(
            tower.cpu(),
            cfg.model.towers[m],
            Path(f"{cfg.export}{m}"),
            logit_scale=task.logit_scale().item(),
        )
    return written


def _init_from(towers: dict[str, torch.nn.Module], path: Path) -> None:
    if path.is_dir():
        path = path / BEST if (path / BEST).exists() else path / LAST
    state = load_checkpoint(path)["model"]
    for m, tower in towers.items():
        prefix = f"towers.{m}."
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if sub:
            tower.load_state_dict(sub)


def _modality(name: str, key: str) -> str:
    try:
        return Modality.parse(name).value
    except BadInput:
        raise ConfigError(
            f"{key}: unknown modality {name!r}; valid: {', '.join(m.value for m in Modality)}"
        ) from None
