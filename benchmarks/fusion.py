"""Cost of fusion: fused inference against running its component encoders, and projector
training speed on cached embeddings.

    python benchmarks/fusion.py [--items 48] [--repeats 5] [--fused runs/fusion_proof/run/fused]

Rows:
* fused inference overhead: `FusedSpace.encode("audio", clips)` against `base.encode` +
  `expert.encode` of the same clips, alternating the two (medians of `--repeats` runs; target
  <= 10 %). With `--fused` the saved proof space is used, else a fresh (untrained) starter +
  speaker combination bond.
* projector training: pairs/s of `fit_mixture` (256 -> 384, hidden 2048, batch 256) on random
  unit embeddings (the cost does not depend on their values).

Prints a table and writes benchmarks/results/fusion.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

RESULTS = Path(__file__).parent / "results" / "fusion.json"


def clips(n: int, seconds: float = 3.0) -> list[tuple[np.ndarray, int]]:
    """Synthetic speech-like audio: harmonic tones with a moving pitch and noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    out = []
    for _ in range(n):
        f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
        phase = 2 * np.pi * np.cumsum(f0) / 16000
        x = sum(np.sin(k * phase) / k for k in range(1, 6)) + 0.05 * rng.normal(size=t.size)
        out.append(((x / np.abs(x).max() * 0.5).astype(np.float32), 16000))
    return out


def fused_space(folder: str):
    import openbind as ob
    from openbind.fusion import FusedSpace, MixtureOfProjectors, combination, load_fused

    base = ob.load("starter_base.v1", modalities=["audio", "text"])
    speaker = ob.load("resemblyzer_speaker.v1")
    if folder:
        return load_fused(folder, {"base": base, "speaker": speaker}), base, speaker
    mix = MixtureOfProjectors.create(speaker.dim, base.dim, heads=7, hidden=2048).eval()
    return FusedSpace(base, {"speaker": speaker}, [combination("speaker", mix)]), base, speaker


def inference(items: int, repeats: int, folder: str) -> dict:
    fused, base, speaker = fused_space(folder)
    data = clips(items)
    fused.encode("audio", data[:4])  # warm up
    parts, whole = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        base.encode("audio", data)
        speaker.encode("audio", data)
        parts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fused.encode("audio", data)
        whole.append(time.perf_counter() - t0)
    p, w = statistics.median(parts), statistics.median(whole)
    heads = sum(len(m.heads) for b in fused.bonds for m in b.projectors.values())
    return {
        "items": items,
        "components_s": p,
        "fused_s": w,
        "overhead": w / p - 1,
        "heads": heads,
        "parts_runs": parts,
        "fused_runs": whole,
    }


def training(n: int, epochs: int) -> dict:
    from openbind.fusion.pseudo import build_tuples
    from openbind.fusion.training import ProjectorTraining, fit_mixture, split_sides
    from openbind.types import Modality

    g = torch.Generator().manual_seed(0)
    a, t = Modality.AUDIO, Modality.TEXT
    memory = {
        a: {
            "source": F.normalize(torch.randn(n, 256, generator=g), dim=-1),
            "target": F.normalize(torch.randn(n, 384, generator=g), dim=-1),
        },
        t: {"target": F.normalize(torch.randn(n // 4, 384, generator=g), dim=-1)},
    }
    tuples = build_tuples(memory, [a])
    inputs, targets = split_sides(tuples, "combination")
    cfg = ProjectorTraining(hidden=2048, epochs=epochs, batch_size=256)
    with tempfile.TemporaryDirectory() as d:
        _, report = fit_mixture(inputs, targets, tuples, cfg, d, log=lambda s: None)
    return {
        "tuples": len(tuples),
        "pairs_per_tuple": len(inputs) * len(targets),
        "epochs": epochs,
        "pairs_per_s": report.pairs_per_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fused", default="", help="a saved starter+speaker fused folder")
    parser.add_argument("--tuples", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    inf = inference(args.items, args.repeats, args.fused)
    tr = training(args.tuples, args.epochs)
    result = {
        "inference": inf,
        "training": tr,
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    print("| measure | value | target |")
    print("|---|---|---|")
    print(
        f"| components (starter audio + speaker), {inf['items']} clips of 3 s | {inf['components_s']:.2f} s | |"
    )
    print(f"| fused encode ({inf['heads']} projector heads) | {inf['fused_s']:.2f} s | |")
    print(f"| fused inference overhead | {100 * inf['overhead']:+.1f} % | <= 10 % |")
    print(f"| projector training (256 -> 384, hidden 2048) | {tr['pairs_per_s']:.0f} pairs/s | |")
    print(f"load average before {load_before[0]:.1f}, after {result['load_after'][0]:.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
