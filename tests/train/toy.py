"""A tiny binding problem: a frozen random "image" tower and a trainable "audio" MLP.

Audio vectors are a fixed random linear function of the image vectors plus noise, so binding audio
to the frozen image embeddings is learnable in a few dozen steps on a CPU.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from openbind.data.paired import PairedDataset
from openbind.losses import LogitScale
from openbind.train.config import DataConfig, LoopConfig, OptimConfig, TrainConfig
from openbind.train.task import BindTask

DIM = 16


def toy_rows(n: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(n, 12, generator=g)
    mix = torch.randn(12, 20, generator=torch.Generator().manual_seed(99))
    audio = image @ mix + 0.1 * torch.randn(n, 20, generator=g)
    return [{"image": image[i], "audio": audio[i]} for i in range(n)]


def toy_dataset(n: int, seed: int = 0) -> PairedDataset:
    clip = {"image": lambda x: x.unsqueeze(0), "audio": lambda x: x.unsqueeze(0)}
    return PairedDataset(toy_rows(n, seed), clip)


def toy_task(seed: int = 0, dropout: float = 0.1) -> BindTask:
    torch.manual_seed(seed)
    towers = {
        "image": nn.Linear(12, DIM),
        "audio": nn.Sequential(
            nn.Linear(20, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, DIM)
        ),
    }
    return BindTask(towers, "image", logit_scale=LogitScale(10.0))


def toy_config(out, **loop) -> TrainConfig:
    defaults = dict(steps=12, eval_every=6, save_every=4, log_every=1, out=str(out), progress=False)
    defaults.update(loop)
    return TrainConfig(
        data=DataConfig(batch_size=16),
        optim=OptimConfig(lr=3e-3, warmup_steps=3),
        loop=dataclasses.replace(LoopConfig(), **defaults),
    )
