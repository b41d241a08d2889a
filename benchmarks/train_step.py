"""Training-step throughput (samples/s) of the starter audio tower and of a base-size ViT tower.

Each measurement runs `openbind.train.loop.fit` (the real loop: forward, InfoNCE against a frozen
anchor, backward, clipping, AdamW) on in-memory inputs against fixed anchor embeddings, and
times the steps after a warm-up. Configurations:

* 1 process, 1 thread                  (the baseline)
* 2 DDP processes (gloo), 1 thread each (target: >= 1.6x the baseline when each has its own core)
* 1 process, 1 thread, bf16 autocast    (is bf16 worth it on this CPU?)

    python benchmarks/train_step.py                 # all, prints a table, writes results/train_step.json
    python benchmarks/train_step.py --towers audio --steps 10

The DDP runs start `torchrun --nproc-per-node 2 --master-addr 127.0.0.1` on this script
(`--worker`); every run is bounded by a timeout. On a shared machine the figures move with the
load of the other processes: the load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

RESULTS = Path(__file__).parent / "results" / "train_step.json"
BATCH = {"audio": 32, "vit_base": 4}
MODALITY = {"audio": "audio", "vit_base": "image"}


def build_tower(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    import torch
    from torch import nn

    from openbind.encoders.small import TowerConfig
    from openbind.encoders.small import build_tower as small_tower

    if name == "audio":
        cfg = TowerConfig(
            kind="mel_audio", widths=(16, 32, 64, 128), mel_bins=64, frames=200
        )  # the shipped starter tower
        return small_tower("audio", cfg, 384), torch.randn(
            1, 1, 64, 200
        )  # one (1, mels, frames) clip
    from openbind.nn.patch_embed import conv_patch_embed
    from openbind.nn.pos_embed import LearnedPosEmbed
    from openbind.nn.transformer import Transformer

    class ViTBase(nn.Module):
        """ViT-B/16 at 224 px (86 M parameters) from openbind.nn blocks, projected to 512-d."""

        def __init__(self) -> None:
            super().__init__()
            self.patch = conv_patch_embed(3, 768, 16, 16, norm_eps=None)
            self.cls = nn.Parameter(torch.zeros(1, 1, 768))
            self.pos = LearnedPosEmbed(197, 768)
            self.trunk = Transformer(768, 12, 12)
            self.norm = nn.LayerNorm(768)
            self.head = nn.Linear(768, 512)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.patch(x)  # (B, 196, 768)
            tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)  # (B, 197, 768)
            return self.head(self.norm(self.trunk(self.pos(tokens)))[:, 0])  # (B, 512)

    return ViTBase(), torch.randn(1, 3, 224, 224)


def worker(name: str, steps: int, warmup: int, precision: str) -> dict:
    """Run in each process: time `steps` steps after `warmup` ones; rank 0 returns the figures."""
    import torch
    from torch import nn

    from openbind.data.paired import PairedDataset
    from openbind.losses import LogitScale
    from openbind.train.config import DataConfig, LoopConfig, TrainConfig
    from openbind.train.distributed import init_distributed, shutdown
    from openbind.train.loop import fit
    from openbind.train.task import BindTask

    torch.set_num_threads(1)
    dist = init_distributed()
    torch.manual_seed(0)
    tower, example = build_tower(name)
    dim = 384 if name == "audio" else 512
    batch = BATCH[name]
    n = batch * dist.world_size * (steps + warmup)
    g = torch.Generator().manual_seed(1)
    m = MODALITY[name]
    rows = [
        {
            m: example + 0.1 * torch.randn(example.shape, generator=g),
            "text": torch.randn(1, dim, generator=g),
        }
        for _ in range(n)
    ]
    data = PairedDataset(rows, {m: lambda x: x, "text": lambda x: x})
    task = BindTask(
        {"text": nn.Identity(), m: tower}, "text", logit_scale=LogitScale(14.3), dist=dist
    )
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            data=DataConfig(batch_size=batch),
            loop=LoopConfig(
                steps=steps + warmup,
                eval_every=0,
                save_every=10**9,
                log_every=10**9,
                out=tmp,
                resume=False,
                progress=False,
                precision=precision,
            ),
        )
        fit(
            task,
            data,
            None,
            cfg,
            dist=dist,
            on_step=lambda step, loss: times.append(time.perf_counter()),
        )
    shutdown(dist)
    elapsed = times[-1] - times[warmup - 1]
    return {
        "tower": name,
        "processes": dist.world_size,
        "precision": precision,
        "batch_per_process": batch,
        "steps_timed": steps,
        "samples_per_s": batch * dist.world_size * steps / elapsed,
        "params_m": sum(p.numel() for p in tower.parameters()) / 1e6,
    }


def run(name: str, processes: int, steps: int, warmup: int, precision: str, timeout: float) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [
        __file__,
        "--worker",
        "--towers",
        name,
        "--steps",
        str(steps),
        "--warmup",
        str(warmup),
        "--precision",
        precision,
    ]
    if processes == 1:
        cmd = [sys.executable, *args]
    else:
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        cmd = [
            torchrun,
            "--nproc-per-node",
            str(processes),
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(_free_port()),
            *args,
        ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    result = json.loads(line)
    result["load_average_1m"] = os.getloadavg()[0]
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--towers", default="audio,vit_base", help="comma-separated: audio, vit_base"
    )
    parser.add_argument(
        "--steps", type=int, default=0, help="timed steps (default: 20 audio, 4 vit_base)"
    )
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", default="fp32", help="fp32 or bf16 (worker only)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.towers, args.steps, args.warmup, args.precision)
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps(result))
        return
    results = []
    for name in args.towers.split(","):
        steps = args.steps or {"audio": 20, "vit_base": 4}[name]
        for processes, precision in ((1, "fp32"), (2, "fp32"), (1, "bf16")):
            try:
                r = run(name, processes, steps, args.warmup, precision, args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                r = {
                    "tower": name,
                    "processes": processes,
                    "precision": precision,
                    "error": str(e)[:300],
                }
                print(
                    f"{name:9s} procs={processes} {precision}: failed ({str(e)[:120]})", flush=True
                )
            else:
                print(
                    f"{name:9s} procs={processes} {precision}: {r['samples_per_s']:8.2f} samples/s (load {r['load_average_1m']:.1f})",
                    flush=True,
                )
            results.append(r)
    print("\n| tower | params (M) | 1 proc fp32 | 2 procs DDP fp32 | DDP speed-up | 1 proc bf16 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.towers.split(","):
        one, two, bf16 = (
            next(
                r
                for r in results
                if r["tower"] == name and r["processes"] == p and r["precision"] == q
            )
            for p, q in ((1, "fp32"), (2, "fp32"), (1, "bf16"))
        )
        speed = {
            id(r): f"{r['samples_per_s']:.2f}" if "samples_per_s" in r else "failed"
            for r in (one, two, bf16)
        }
        ratio = (
            f"{two['samples_per_s'] / one['samples_per_s']:.2f}x"
            if "error" not in one and "error" not in two
            else "n/a"
        )
        params = f"{one['params_m']:.1f}" if "params_m" in one else "?"
        print(
            f"| {name} | {params} | {speed[id(one)]} | {speed[id(two)]} | {ratio} | {speed[id(bf16)]} |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=1) + "\n"
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
