"""Emergent alignment on the generated world (ImageBind's claim at CPU scale).

Trains an image-text anchor space, binds audio to its frozen image tower with image-audio pairs
only, and measures audio->text zero-shot classification and retrieval, never trained, beside
chance and beside an audio tower bound directly with audio-text pairs
(`openbind.train.emergent`).

    python benchmarks/emergent.py                     # default size, writes results/emergent.json
    python benchmarks/emergent.py --train-scenes 1000 --steps 150 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from openbind.train.emergent import EmergentConfig, run_emergent

RESULTS = Path(__file__).parent / "results" / "emergent.json"


def main() -> None:
    defaults = EmergentConfig()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-scenes", type=int, default=defaults.train_scenes)
    parser.add_argument("--test-scenes", type=int, default=defaults.test_scenes)
    parser.add_argument(
        "--steps", type=int, default=defaults.steps, help="optimiser steps per stage"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    cfg = dataclasses.replace(
        defaults,
        train_scenes=args.train_scenes,
        test_scenes=args.test_scenes,
        steps=args.steps,
        seed=args.seed,
        threads=args.threads,
    )
    tick = time.perf_counter()
    report = run_emergent(cfg)
    total = time.perf_counter() - tick
    print(
        f"{cfg.train_scenes} training scenes, {cfg.test_scenes} held-out, {cfg.steps} steps per stage, {total:.0f} s\n"
    )
    print(
        "| measure (held-out) | chance | emergent (image-audio pairs only) | direct (audio-text pairs) | anchor image (image-text) |"
    )
    print("|---|---:|---:|---:|---:|")
    for key, chance in report.chance.items():
        anchor = f"{report.anchor[key]:.3f}" if key in report.anchor else "n/a"
        print(
            f"| {key} | {chance:.3f} | {report.emergent[key]:.3f} | {report.direct[key]:.3f} | {anchor} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"config": dataclasses.asdict(cfg), "seconds": total, **dataclasses.asdict(report)},
            indent=1,
        )
        + "\n"
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
