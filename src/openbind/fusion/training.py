"""Training FreeBind projectors on pseudo tuples of cached embeddings.

Each head of a mixture is trained on the tuples of one pseudo-data mode (the centre modalities it
uses; "mix" = all) with symmetric InfoNCE between the projected input rows and the target rows,
summed over modality pairs ("dense": every input modality with every target modality, Ex-MCR;
"native": same modality only), optionally with Gaussian noise added to the inputs and
renormalised (C-MCR). The epoch with the best held-out retrieval R@1 (projected input ->
target, same modality, among the held-out rows) is kept. Training resumes from `last.ckpt`
(`openbind.train.checkpointing`) after an interruption.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from openbind.errors import ConfigError
from openbind.fusion.projector import MixtureOfProjectors, Projector
from openbind.fusion.pseudo import Tuples
from openbind.losses.contrastive import info_nce
from openbind.train.checkpointing import (
    LAST,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from openbind.types import Modality


@dataclass(frozen=True)
class ProjectorTraining:
    """How projector heads are trained (our defaults; FreeBind's are unpublished).

    Attributes:
        modes: one head per mode; a mode is "mix" (all tuples) or centre modalities joined by
            "+" (e.g. "audio", "audio+text").
        hidden: hidden width of each head (FreeBind: 2048).
        epochs: passes over the training tuples per head.
        batch_size: tuples per step (batch norm wants large batches).
        lr: AdamW learning rate (cosine decay to 0).
        weight_decay: AdamW weight decay.
        temperature: InfoNCE temperature (logits = cosine / temperature).
        noise: std of Gaussian noise added to the unit input rows before the projector (0: none).
        pairs: "dense" or "native" (see the module docstring).
        holdout: fraction of tuples held out for selection.
        seed: seed of the split, the initialisation and the batches.
    """

    modes: tuple[str, ...] = ("mix",)
    hidden: int = 1024
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.05
    noise: float = 0.0
    pairs: str = "dense"
    holdout: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pairs not in ("dense", "native"):
            raise ConfigError(f"train.pairs must be 'dense' or 'native', got {self.pairs!r}")
        if not 0 < self.holdout < 1:
            raise ConfigError(f"train.holdout must be in (0, 1), got {self.holdout}")
        if self.temperature <= 0:
            raise ConfigError(f"train.temperature must be > 0, got {self.temperature}")


@dataclass
class FitReport:
    """What training did: per head, the selected epoch's held-out R@1, and the speed."""

    heads: list[str]
    best_r1: list[float]
    best_epoch: list[int]
    pairs_per_s: float
    history: list[list[float]] = field(default_factory=list)


def mode_rows(tuples: Tuples, mode: str) -> torch.Tensor:
    """Indices of the tuples a head of `mode` trains on."""
    if mode == "mix":
        return torch.arange(len(tuples))
    wanted = {Modality.parse(m) for m in mode.split("+")}
    index = [i for i, c in enumerate(tuples.centre) if c in wanted]
    if not index:
        raise ConfigError(
            f"mode {mode!r}: no pseudo tuples are centred on {sorted(map(str, wanted))}"
        )
    return torch.tensor(index)


def _pairs(inputs, targets, kind):
    return [(m, n) for m in inputs for n in targets if kind == "dense" or m == n]


def _loss(head, inputs, targets, pairs, scale, noise):
    total = 0.0
    projected = {}
    for m in {m for m, _ in pairs}:
        x = inputs[m]
        if noise > 0:
            x = F.normalize(x + noise * torch.randn_like(x), dim=-1)
        projected[m] = head(x)
    for m, n in pairs:
        total = total + info_nce(projected[m], targets[n], scale)
    return total / len(pairs)


@torch.no_grad()
def heldout_r1(head: torch.nn.Module, inputs, targets) -> float:
    """Mean over shared modalities (else all pairs) of R@1 of projected input -> target row."""
    head.eval()
    pairs = [(m, m) for m in inputs if m in targets] or _pairs(inputs, targets, "dense")
    scores = []
    for m, n in pairs:
        sims = head(inputs[m]) @ targets[n].T
        scores.append((sims.argmax(1) == torch.arange(sims.shape[0])).float().mean().item())
    return sum(scores) / len(scores)


def fit_mixture(
    inputs: dict[Modality, torch.Tensor],
    targets: dict[Modality, torch.Tensor],
    tuples: Tuples,
    cfg: ProjectorTraining,
    folder: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> tuple[MixtureOfProjectors, FitReport]:
    """Train one head per mode; resumable from `folder/last.ckpt`.

    Args:
        inputs: per modality, (N, d_in) rows the projector reads (row i = tuple i).
        targets: per modality, (N, d_out) rows it is aligned to.
        tuples: the tuples (for their centre modalities).
        cfg: the settings.
        folder: where checkpoints go (None: no checkpoints).
        log: progress lines.
    """
    d_in = next(iter(inputs.values())).shape[1]
    d_out = next(iter(targets.values())).shape[1]
    pairs = _pairs(inputs, targets, cfg.pairs)
    if not pairs:
        raise ConfigError("no modality pairs to align (inputs and targets share none)")
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(tuples), generator=g)
    n_hold = max(2, round(cfg.holdout * len(tuples)))
    hold, train_rows = order[:n_hold], order[n_hold:]
    hold_in = {m: v[hold] for m, v in inputs.items()}
    hold_out = {m: v[hold] for m, v in targets.items()}
    path = Path(folder) / LAST if folder is not None else None
    state = load_checkpoint(path) if path is not None and path.is_file() else None
    done: list[dict] = state["done"] if state else []
    report = FitReport(list(cfg.modes), [d["r1"] for d in done], [d["epoch"] for d in done], 0.0)
    seen_pairs, seconds = 0, 0.0
    for h, mode in enumerate(cfg.modes):
        if h < len(done):
            continue
        allowed = set(mode_rows(tuples, mode).tolist())
        rows = torch.tensor([int(i) for i in train_rows if int(i) in allowed])
        torch.manual_seed(cfg.seed + h)
        head = Projector(d_in, d_out, cfg.hidden)
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = max(1, math.ceil(len(rows) / cfg.batch_size))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt,
            _cosine(cfg.epochs * steps_per_epoch),
        )
        start, best, best_epoch, best_state, history = 0, -1.0, -1, None, []
        if state is not None and state.get("head") == h:
            head.load_state_dict(state["model"])
            opt.load_state_dict(state["optim"])
            sched.load_state_dict(state["sched"])
            start, best, best_epoch = state["epoch"] + 1, state["best"], state["best_epoch"]
            best_state, history = state["best_state"], list(state["history"])
            set_rng_state(state["rng"])
            log(f"head {mode}: resumed after epoch {state['epoch']}")
        for epoch in range(start, cfg.epochs):
            head.train()
            perm = rows[torch.randperm(len(rows))]
            t0 = time.perf_counter()
            for k in range(0, len(perm), cfg.batch_size):
                batch = perm[k : k + cfg.batch_size]
                if len(batch) < 2:
                    continue
                loss = _loss(
                    head,
                    {m: v[batch] for m, v in inputs.items()},
                    {m: v[batch] for m, v in targets.items()},
                    pairs,
                    1.0 / cfg.temperature,
                    cfg.noise,
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                seen_pairs += len(batch) * len(pairs)
            seconds += time.perf_counter() - t0
            r1 = heldout_r1(head, hold_in, hold_out)
            history.append(r1)
            if r1 > best:
                best, best_epoch = r1, epoch
                best_state = {k: v.clone() for k, v in head.state_dict().items()}
            if path is not None:
                save_checkpoint(
                    path,
                    {
                        "done": done,
                        "head": h,
                        "epoch": epoch,
                        "model": head.state_dict(),
                        "optim": opt.state_dict(),
                        "sched": sched.state_dict(),
                        "best": best,
                        "best_epoch": best_epoch,
                        "best_state": best_state,
                        "history": history,
                        "rng": rng_state(),
                    },
                )
        log(f"head {mode}: best held-out R@1 {best:.3f} at epoch {best_epoch}")
        done.append({"mode": mode, "state": best_state, "r1": best, "epoch": best_epoch})
        report.best_r1.append(best)
        report.best_epoch.append(best_epoch)
        report.history.append(history)
        state = None
        if path is not None:
            save_checkpoint(path, {"done": done, "head": h + 1, "epoch": -1})
    heads = []
    for d in done:
        head = Projector(d_in, d_out, cfg.hidden)
        head.load_state_dict(d["state"])
        heads.append(head.eval())
    report.pairs_per_s = seen_pairs / seconds if seconds > 0 else 0.0
    return MixtureOfProjectors(heads, [d["mode"] for d in done]).eval(), report


def _cosine(total: int) -> Callable[[int], float]:
    return lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))


def split_sides(
    tuples: Tuples, kind: str
) -> tuple[dict[Modality, torch.Tensor], dict[Modality, torch.Tensor]]:
    """(inputs, targets) of a bond's projector: combination reads the expert ("source") rows and
    aligns them to the unified ("target") rows; displacement the other way round."""
    if kind == "combination":
        return tuples.rows["source"], tuples.rows["target"]
    return tuples.rows["target"], tuples.rows["source"]
