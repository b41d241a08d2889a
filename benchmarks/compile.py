"""torch.compile (inductor, CPU) on one ImageBind-huge tower: compile time, speed-up, deviation.

Builds one tower of the huge shapes with random weights (`--blocks` caps its depth), and times
on the same input, interleaved:

* **eager**: `ImageBindTower` as `space.encode` runs it (openbind's default fast path, block
  linears on packed oneDNN weights);
* **eager F.linear**: the same with lazy prepacking off;
* **compiled**: `torch.compile(tower)` (inductor, static shapes), and with `--freezing` also
  `torch._inductor.config.freezing = True` (inductor folds the weights as constants and packs
  them for oneDNN itself).

The first compiled call's time is the compile time. Prints a table and writes
benchmarks/results/compile.json. Inductor on CPU needs a C++ compiler (`gcc` / `g++`).

Usage:
    .venv/bin/python benchmarks/compile.py --tower audio --blocks 4 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from inference import build, cpu_info

from openbind.encoders.imagebind import ImageBindTower
from openbind.nn.fast import set_lazy_prepack

MODALITY = {"audio": "audio", "vision": "image", "depth": "depth"}
RESULTS = Path(__file__).parent / "results" / "compile.json"
INPUTS = {
    "audio": (3, 1, 128, 204),  # one recording, 3 clips
    "vision": (1, 3, 224, 224),
    "depth": (1, 1, 224, 224),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tower", default="audio", choices=sorted(INPUTS))
    parser.add_argument("--blocks", type=int, help="cap the tower's blocks (quick runs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--freezing", action="store_true", help="also inductor with freezing")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cxx = shutil.which("g++") or shutil.which("c++") or shutil.which("gcc")
    cpu = cpu_info()
    print(
        f"CPU: {cpu['model']} ({', '.join(cpu['features'])}), torch {torch.__version__}, "
        f"{args.threads} threads, C++ compiler {cxx}, load {os.getloadavg()[0]:.2f}"
    )
    model = build(args.tower, args.blocks)
    tower = ImageBindTower(model, MODALITY[args.tower]).eval()
    x = torch.randn(*INPUTS[args.tower], generator=torch.Generator().manual_seed(0))

    def eager_flinear(t: torch.Tensor) -> torch.Tensor:
        old = set_lazy_prepack(False)
        try:
            return tower(t)
        finally:
            set_lazy_prepack(old)

    runners: dict[str, Any] = {"eager": tower, "eager F.linear": eager_flinear}
    compile_s: dict[str, float] = {}
    variants = [("compiled", False)] + ([("compiled, freezing", True)] if args.freezing else [])
    outputs: dict[str, torch.Tensor] = {}
    for name, freezing in variants:
        torch._dynamo.reset()
        torch._inductor.config.freezing = freezing
        compiled = torch.compile(tower, dynamic=False)
        start = time.perf_counter()
        with torch.inference_mode():
            outputs[name] = compiled(x)
        compile_s[name] = time.perf_counter() - start
        print(f"  {name}: first call (compile) {compile_s[name]:.1f} s", flush=True)
        runners[name] = compiled
    with torch.inference_mode():
        for name, fn in runners.items():
            if name not in outputs:
                outputs[name] = fn(x)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeats):
            for name, fn in runners.items():
                start = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - start)
    ref = outputs["eager F.linear"]
    base = statistics.median(times["eager F.linear"])
    rows = []
    print(f"\n{'variant':20} {'s/call':>8} {'vs F.linear':>11} {'compile s':>9} {'max |d|':>9} "
          f"{'min cos':>10}")  # fmt: skip
    for name in runners:
        t = statistics.median(times[name])
        out = outputs[name].float()
        row = {
            "variant": name,
            "seconds": t,
            "times": times[name],
            "speedup_vs_flinear": base / t,
            "compile_s": compile_s.get(name),
            "max_abs": float((out - ref).abs().max()),
            "min_cos": float(F.cosine_similarity(out, ref).min()),
        }
        rows.append(row)
        c = f"{row['compile_s']:9.1f}" if row["compile_s"] is not None else f"{'-':>9}"
        print(
            f"{name:20} {t:8.3f} {row['speedup_vs_flinear']:10.2f}x {c} "
            f"{row['max_abs']:9.2e} {row['min_cos']:10.7f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "cpu": cpu,
                "torch": torch.__version__,
                "tower": args.tower,
                "blocks": args.blocks,
                "threads": args.threads,
                "compiler": cxx,
                "loadavg_end": os.getloadavg(),
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
