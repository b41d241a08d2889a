"""The training loop: one explicit function, in the spirit of nanoGPT and torchtune recipes.

Per optimiser step: `accum` micro-batches (forward under optional bf16 autocast, backward; DDP
gradient sync only on the last), gradient clipping, AdamW step, scheduler step. Every
`log_every` steps rank 0 appends a line to `metrics.jsonl`; every `eval_every` steps it measures
retrieval R@1/R@5 on the held-out split and keeps `best.ckpt`; every `save_every` steps it writes
`last.ckpt` (atomically). With `resume`, a run continues from `last.ckpt` with the same
parameters, optimiser and scheduler state, RNG states and data order, so its losses match an
uninterrupted run exactly.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from openbind.data.paired import PairedDataset
from openbind.data.plan import BatchPlan
from openbind.train.checkpointing import (
    BEST,
    LAST,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from openbind.train.config import TrainConfig
from openbind.train.distributed import SINGLE_PROCESS, DistContext
from openbind.train.evaluate import retrieval_metrics
from openbind.train.optim import build_optimizer, build_scheduler
from openbind.train.task import BindTask

METRICS = "metrics.jsonl"


@dataclass
class FitResult:
    """What a call of `fit` did.

    Attributes:
        step: optimiser steps done in total (including those before a resume).
        losses: the training loss of each step run by this call, by step number.
        val: the last validation metrics (empty if none ran).
        best: the best validation mean R@1 so far (-inf if none ran).
        out: the run folder.
    """

    step: int
    losses: dict[int, float] = field(default_factory=dict)
    val: dict[str, float] = field(default_factory=dict)
    best: float = -math.inf
    out: Path = Path()


def fit(
    task: BindTask,
    train_set: PairedDataset,
    val_set: PairedDataset | None,
    cfg: TrainConfig,
    *,
    dist: DistContext = SINGLE_PROCESS,
    on_step: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Train `task` on `train_set` as `cfg` says.

    Args:
        task: towers + loss; its trainable parameters are optimised.
        train_set: paired rows; `train_set.collate` makes the batches.
        val_set: held-out pairs for retrieval validation (None: no validation).
        cfg: the recipe (`optim`, `loop` and `data.batch_size`/`data.workers` are used here).
        dist: this process's place in the run.
        on_step: called after every optimiser step with (step, loss).

    Raises:
        BadInput: fewer training rows than one global batch.
        WeightsError: `last.ckpt` exists but is corrupted (it is left in place).
    """
    loop, out = cfg.loop, Path(cfg.loop.out)
    device = dist.device
    task.to(device)
    model: torch.nn.Module = task
    if dist.world_size > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            task, device_ids=[dist.local_rank] if device.type == "cuda" else None
        )
    optimizer = build_optimizer(task, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, loop.steps)
    params = [p for p in task.parameters() if p.requires_grad]
    result = FitResult(step=0, out=out)

    resume_state = None
    if loop.resume and (out / LAST).exists():
        resume_state = load_checkpoint(out / LAST)
        _load_trainable(task, resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        result.step, result.best = resume_state["step"], resume_state["best"]

    plan = BatchPlan(
        len(train_set),
        cfg.data.batch_size,
        world_size=dist.world_size,
        rank=dist.rank,
        seed=loop.seed,
        start=result.step * loop.accum,
        stop=loop.steps * loop.accum,
    )
    # The loader gets its own generator so creating it never draws from the global RNG.
    loader = DataLoader(
        train_set,
        batch_sampler=plan,
        num_workers=cfg.data.workers,
        collate_fn=train_set.collate,
        generator=torch.Generator(),
    )
    batches = iter(loader)
    if resume_state is not None:
        set_rng_state(resume_state["rng"])
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
    bar = _progress(loop.steps, result.step, loop.progress and dist.is_main)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=loop.precision == "bf16")
    model.train()
    tick = time.perf_counter()

    while result.step < loop.steps:
        step_loss, pair_losses = 0.0, {}
        for micro in range(loop.accum):
            batch = {m: x.to(device, non_blocking=True) for m, x in next(batches).items()}
            last_micro = micro == loop.accum - 1
            sync = (
                contextlib.nullcontext() if last_micro or dist.world_size == 1 else model.no_sync()
            )
            with sync:
                with autocast:
                    output = model(batch)
                # Each rank holds only its slice of the global-batch gradient and DDP averages
                # over ranks, so scale by world_size; average the micro-batches of a step.
                (output.loss * dist.world_size / loop.accum).backward()
            step_loss += output.loss.item() / loop.accum
            for k, v in output.pair_losses.items():
                pair_losses[k] = pair_losses.get(k, 0.0) + v / loop.accum
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip_grad)
            if cfg.optim.clip_grad > 0
            else None
        )
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        result.step += 1
        result.losses[result.step] = step_loss

        if dist.is_main and (result.step % loop.log_every == 0 or result.step == loop.steps):
            elapsed, tick = time.perf_counter() - tick, time.perf_counter()
            samples = cfg.data.batch_size * dist.world_size * loop.accum * loop.log_every
            _log(
                out,
                {
                    "step": result.step,
                    "loss": step_loss,
                    **{f"loss/{k}": v for k, v in pair_losses.items()},
                    "lr": scheduler.get_last_lr()[0],
                    "logit_scale": task.logit_scale().item(),
                    "grad_norm": None if grad_norm is None else grad_norm.item(),
                    "samples_per_s": samples / max(elapsed, 1e-9),
                },
            )
        if dist.is_main and val_set is not None and _due(result.step, loop.eval_every, loop.steps):
            result.val = retrieval_metrics(
                task, DataLoader(val_set, batch_size=256, collate_fn=val_set.collate)
            )
            _log(out, {"step": result.step, "val": result.val})
            if result.val["mean_R@1"] > result.best:
                result.best = result.val["mean_R@1"]
                save_checkpoint(out / BEST, _state(task, optimizer, scheduler, result))
        if dist.is_main and _due(result.step, loop.save_every, loop.steps):
            save_checkpoint(out / LAST, _state(task, optimizer, scheduler, result))
        if bar is not None:
            bar.set_postfix(loss=f"{step_loss:.4f}")
            bar.update(1)
        if on_step is not None:
            on_step(result.step, step_loss)
    if bar is not None:
        bar.close()
    return result


def _due(step: int, every: int, total: int) -> bool:
    return step == total or (every > 0 and step % every == 0)


def _state(
    task: BindTask, optimizer: torch.optim.Optimizer, scheduler: object, result: FitResult
) -> dict:
    return {
        "model": task.trainable_state(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": result.step,
        "best": result.best,
        "rng": rng_state(),
    }


def _load_trainable(task: BindTask, state: dict[str, torch.Tensor]) -> None:
    missing, unexpected = task.load_state_dict(state, strict=False)
    expected = set(task.trainable_state())
    missing = [k for k in missing if k in expected]
    if missing or unexpected:
        from openbind.errors import CheckpointMismatch

        raise CheckpointMismatch(
            f"checkpoint does not fit the task: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def _log(out: Path, record: dict) -> None:
    with (out / METRICS).open("a") as f:
        f.write(json.dumps(record) + "\n")


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step")
