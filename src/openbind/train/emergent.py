"""Emergent alignment on the generated world: audio bound to images answers text queries.

ImageBind's central claim (Girdhar et al., CVPR 2023, Sec. 4.1 "emergent zero-shot"): binding a
modality to a frozen image-text space with *image* pairs only makes it usable with *text*, although
no audio-text pair was ever seen. This experiment reproduces the claim at CPU scale:

1. anchor space: train an image tower and a text tower together on image-caption pairs;
2. emergent: freeze both, train an audio tower on image-audio pairs only;
3. direct (reference): train another audio tower on audio-caption pairs against the same frozen
   text tower;
4. on held-out scenes, measure audio->text zero-shot classification over the 64 concepts (prompt
   ensemble over the caption templates) and the share of predictions with the right colour, shape
   and motion; caption->audio retrieval (`caption_query_P@1`: the top sound for a held-out
   caption shows the caption's concept); audio->image retrieval (`to_image_R@1`: a sound finds
   its own scene's image among all held-out images); all beside chance, and the same figures of
   the anchor's image tower for reference.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from openbind.data import synth
from openbind.data.paired import PairedDataset
from openbind.encoders.small import TowerConfig, build_tower, build_transform
from openbind.losses import LogitScale
from openbind.train.config import DataConfig, LoopConfig, OptimConfig, TrainConfig
from openbind.train.loop import fit
from openbind.train.task import BindTask
from openbind.train.towers import CachedTower


@dataclass(frozen=True)
class EmergentConfig:
    """Size of the experiment.

    Attributes:
        train_scenes: scenes used for training (each stage sees the same scenes).
        test_scenes: held-out scenes for the measurements.
        steps: optimiser steps per stage.
        batch_size: pairs per step.
        image_size: rendered image side.
        sample_rate: rendered sound rate (1 s sounds).
        dim: shared space dimension.
        widths: conv widths of the image and audio towers.
        seed: world and initialisation seed.
        threads: torch threads (0: torch's default; 1 is faster on a busy shared machine).
    """

    train_scenes: int = 3000
    test_scenes: int = 640
    steps: int = 600
    batch_size: int = 64
    image_size: int = 32
    sample_rate: int = 8000
    dim: int = 64
    widths: tuple[int, ...] = (16, 32, 64)
    seed: int = 0
    threads: int = 0


@dataclass
class EmergentReport:
    """Measurements of each audio tower on the held-out scenes (fractions in [0, 1])."""

    chance: dict[str, float]
    emergent: dict[str, float]
    direct: dict[str, float]
    anchor: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)


def run_emergent(cfg: EmergentConfig, workdir: str | Path | None = None) -> EmergentReport:
    """Run the three trainings and the measurements (see the module docstring)."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp)
        towers = {
            "image": TowerConfig(kind="conv_image", widths=cfg.widths, image_size=cfg.image_size),
            "text": TowerConfig(kind="token_text", widths=(128,)),
            "audio": TowerConfig(
                kind="wave_audio", widths=cfg.widths, sample_rate=cfg.sample_rate, seconds=1.0
            ),
        }
        train = _render(range(cfg.train_scenes), cfg, towers)
        test = _render(range(cfg.train_scenes, cfg.train_scenes + cfg.test_scenes), cfg, towers)
        seconds = {}

        tick = time.perf_counter()
        torch.manual_seed(cfg.seed)
        image, text = (
            build_tower("image", towers["image"], cfg.dim),
            build_tower("text", towers["text"], cfg.dim),
        )
        anchor = BindTask(
            {"text": text, "image": image},
            "text",
            trainable=["text", "image"],
            logit_scale=LogitScale(10.0),
        )
        fit(anchor, _pairs(train, "image", "text"), None, _train_cfg(cfg, work / "anchor"))
        seconds["anchor"] = time.perf_counter() - tick

        results = {}
        for name, partner in (("emergent", "image"), ("direct", "text")):
            tick = time.perf_counter()
            torch.manual_seed(cfg.seed + 1)
            audio = build_tower("audio", towers["audio"], cfg.dim)
            frozen = CachedTower({"image": image, "text": text}[partner].eval())
            task = BindTask(
                {partner: frozen, "audio": audio},
                partner,
                trainable=["audio"],
                logit_scale=LogitScale(10.0),
            )
            fit(task, _pairs(train, "audio", partner), None, _train_cfg(cfg, work / name))
            seconds[name] = time.perf_counter() - tick
            results[name] = measure(image, text, audio, test)
        anchor_metrics = measure(image, text, image, test)  # the anchor space's own image->text
    n = len(synth.concepts())
    chance = {
        "zero_shot_top1": 1 / n,
        "colour": 0.25,
        "shape": 0.25,
        "motion": 0.25,
        "caption_query_P@1": 1 / n,
        "to_image_R@1": 1 / cfg.test_scenes,
    }
    return EmergentReport(chance, results["emergent"], results["direct"], anchor_metrics, seconds)


@torch.no_grad()
def measure(
    image: torch.nn.Module, text: torch.nn.Module, query: torch.nn.Module, test: dict
) -> dict[str, float]:
    """Zero-shot and retrieval figures of the `query` tower (audio, or image for the anchor)."""
    for t in (image, text, query):
        t.eval()
    key = "audio" if query is not image else "image"
    q = F.normalize(query(test[key]), dim=-1)  # (N, D)
    img = F.normalize(image(test["image"]), dim=-1)
    classes = synth.concepts()
    prompts = [
        tpl.format(shape=c.shape, colour=c.colour, motion=c.motion)
        for c in classes
        for tpl in synth.TEMPLATES
    ]
    ids = torch.cat([test["tokenize"](p) for p in prompts])
    class_emb = F.normalize(
        F.normalize(text(ids), dim=-1).reshape(len(classes), len(synth.TEMPLATES), -1).mean(1),
        dim=-1,
    )
    pred = (q @ class_emb.T).argmax(1)  # (N,)
    truth = test["concept"]
    out = {"zero_shot_top1": (pred == truth).float().mean().item()}
    for factor in ("colour", "shape", "motion"):
        got = torch.tensor(
            [
                getattr(classes[i], factor) == getattr(classes[j], factor)
                for i, j in zip(pred.tolist(), truth.tolist(), strict=True)
            ]
        )
        out[factor] = got.float().mean().item()
    captions = F.normalize(text(test["text"]), dim=-1)
    top = (captions @ q.T).argmax(1)
    out["caption_query_P@1"] = (truth[top] == truth).float().mean().item()
    if key != "image":
        sims = q @ img.T
        out["to_image_R@1"] = (sims.argmax(1) == torch.arange(len(q))).float().mean().item()
    return out


def _render(indices: range, cfg: EmergentConfig, towers: dict[str, TowerConfig]) -> dict:
    to_image, to_audio, to_text = (build_transform(towers[m]) for m in ("image", "audio", "text"))
    scenes = [synth.scene(i, cfg.seed) for i in indices]
    all_concepts = synth.concepts()
    return {
        "image": torch.cat([to_image(synth.render_image(s, cfg.image_size)) for s in scenes]),
        "audio": torch.cat(
            [
                to_audio((synth.render_sound(s, cfg.sample_rate, 1.0), cfg.sample_rate))
                for s in scenes
            ]
        ),
        "text": torch.cat([to_text(synth.caption(s)) for s in scenes]),
        "concept": torch.tensor([all_concepts.index(s.concept) for s in scenes]),
        "tokenize": to_text,
    }


def _pairs(data: dict, a: str, b: str) -> PairedDataset:
    rows = [{a: data[a][i], b: data[b][i]} for i in range(len(data[a]))]
    return PairedDataset(rows, {a: _one_clip, b: _one_clip})


def _one_clip(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(0)


def _train_cfg(cfg: EmergentConfig, out: Path) -> TrainConfig:
    return TrainConfig(
        data=DataConfig(batch_size=cfg.batch_size),
        optim=OptimConfig(lr=2e-3, warmup_steps=max(1, cfg.steps // 20)),
        loop=dataclasses.replace(
            LoopConfig(),
            steps=cfg.steps,
            eval_every=0,
            save_every=cfg.steps,
            log_every=50,
            seed=cfg.seed,
            out=str(out),
            resume=False,
            progress=False,
        ),
    )
