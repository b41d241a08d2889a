"""Peak memory of loading ImageBind huge: all six towers vs only text + audio.

Writes random weights of the exact `imagebind_huge` shapes once (a 4.8 GB `.pth`, and the same
split into per-tower safetensors by `openbind.checkpoint.convert`), then measures each case in its
own process: peak RSS (`ru_maxrss`) and the resident anonymous / file-backed split after loading,
and again after one forward pass of batch 1 per tower (which touches the weights it uses).

Cases: openbind's loader (`openbind.zoo.imagebind.load_model`: meta-device build, only the
requested keys, tensors assigned without copying, so memory-mapped pages stay file-backed and
become resident only when touched) for all six towers and for text + audio, from both formats;
the reference-style load (full model built on the CPU, the whole file read with `torch.load`,
then copied in) for context; and a process that only imports torch and openbind (baseline).

With `--each`, every single tower is also loaded alone from the per-tower folder, and all six
from a float16 copy (`checkpoint.convert(..., dtype=torch.float16)`, what `openbind convert
--dtype float16` writes); a table gives each tower's peak RSS over the all-six load's.
`--skip-reference` leaves out the reference-style case (which needs ~10 GB of RAM).

Usage:
    .venv/bin/python benchmarks/load_memory.py [--dir DIR] [--keep] [--each] [--skip-reference]

Needs ~12 GB free in DIR (default: the system temp dir: .pth, per-tower float32 and float16
copies) and ~11 GB of RAM (the float16 case: cast to float32 in anonymous memory, plus the packed
weight copies after its forward pass; the reference case needs ~10 GB). With `--each
--skip-reference`: 8-12 minutes on a 2-core machine. The table also gives each per-tower file's
float32 and float16 size on disk.
Prints a table and writes benchmarks/results/load_memory.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "load_memory.json"
ALL = ("vision", "text", "audio", "depth", "thermal", "imu")
TEXT_AUDIO = ("text", "audio")
TARGET = 1 / 3


def _memory() -> dict[str, float]:
    """Peak RSS so far and the current RSS split (MiB)."""
    status = dict(
        line.split(":", 1)
        for line in Path("/proc/self/status").read_text().splitlines()
        if ":" in line
    )

    def mib(key: str) -> float:
        return int(status[key].split()[0]) / 1024

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak": peak, "rss": mib("VmRSS"), "anon": mib("RssAnon"), "file": mib("RssFile")}


def _inputs(names: tuple[str, ...]) -> dict:
    import torch

    ids = torch.zeros(1, 77, dtype=torch.int64)
    ids[0, :5] = torch.tensor([49406, 320, 1929, 269, 49407])  # "a dog."
    shapes = {
        "vision": (1, 3, 224, 224),
        "audio": (1, 1, 128, 204),
        "depth": (1, 1, 224, 224),
        "thermal": (1, 1, 224, 224),
        "imu": (1, 6, 2000),
    }
    gen = torch.Generator().manual_seed(0)
    return {n: ids if n == "text" else torch.randn(shapes[n], generator=gen) for n in names}


def child(case: dict) -> dict:
    """Run one case in this process and return its measurements."""
    import torch

    from openbind.encoders.imagebind import ImageBindConfig, ImageBindModel
    from openbind.zoo.imagebind import load_model

    torch.set_num_threads(2)
    names = tuple(case["towers"])
    start = time.perf_counter()
    if case["loader"] == "openbind":
        model = load_model(ImageBindConfig.huge(), case["path"], names)
    elif case["loader"] == "reference":
        model = ImageBindModel(ImageBindConfig.huge()).eval()  # all six, random init on the CPU
        state = torch.load(case["path"], map_location="cpu", weights_only=True)  # read whole
        model.load_state_dict(state, strict=True)
        del state
    else:
        return {"load": _memory(), "forward": _memory(), "load_s": 0.0, "forward_s": 0.0}
    load_s = time.perf_counter() - start
    after_load = _memory()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.forward_reference(_inputs(names))
    forward_s = time.perf_counter() - start
    assert all(torch.isfinite(v).all() for v in out.values())
    return {"load": after_load, "forward": _memory(), "load_s": load_s, "forward_s": forward_s}


def write_weights(folder: Path) -> None:
    """Random weights of the huge shapes: `imagebind_huge.pth` and a per-tower `towers/` folder."""
    import torch

    from openbind import checkpoint
    from openbind.encoders.imagebind import ImageBindConfig, ImageBindModel
    from openbind.zoo.imagebind import key_groups

    with torch.device("meta"):
        shapes = {
            k: v.shape for k, v in ImageBindModel(ImageBindConfig.huge()).state_dict().items()
        }
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in shapes.items():
        if key.endswith(".mask"):
            state[key] = torch.full(shape, float("-inf")).triu_(1)
        elif key.endswith("log_logit_scale"):
            state[key] = torch.full(shape, 1.6094379)  # ln 5
        else:
            state[key] = torch.randn(shape, generator=gen).mul_(0.02)
    torch.save(state, folder / "imagebind_huge.pth")
    del state
    checkpoint.convert(
        folder / "imagebind_huge.pth",
        folder / "towers",
        group_of=checkpoint.group_by_prefix(key_groups()),
    )
    checkpoint.convert(
        folder / "imagebind_huge.pth",
        folder / "towers_fp16",
        group_of=checkpoint.group_by_prefix(key_groups()),
        dtype=torch.float16,
    )


def disk_sizes(folder: Path) -> dict[str, int]:
    """Bytes on disk: the .pth, and each per-tower file of the float32 and float16 folders."""
    sizes = {"imagebind_huge.pth": (folder / "imagebind_huge.pth").stat().st_size}
    for sub in ("towers", "towers_fp16"):
        for f in sorted((folder / sub).rglob("*")):
            if f.is_file():
                sizes[str(f.relative_to(folder))] = f.stat().st_size
    return sizes


def _size_table(sizes: dict[str, int]) -> dict[str, float]:
    """Print per-tower float32 / float16 sizes; returns float16 / float32 per file and in total."""
    print(f"\n{'on disk':40} {'float32 MB':>11} {'float16 MB':>11} {'ratio':>6}")
    ratios, t32, t16 = {}, 0, 0
    for name, n32 in sizes.items():
        if not name.startswith("towers/"):
            continue
        n16 = sizes.get("towers_fp16/" + name.removeprefix("towers/"))
        if n16 is None:
            continue
        t32, t16 = t32 + n32, t16 + n16
        ratios[name.removeprefix("towers/")] = n16 / n32
        print(
            f"{name.removeprefix('towers/'):40} {n32 / 1e6:11.1f} {n16 / 1e6:11.1f} {n16 / n32:6.3f}"
        )
    if t32:
        ratios["total"] = t16 / t32
        print(f"{'total':40} {t32 / 1e6:11.1f} {t16 / 1e6:11.1f} {t16 / t32:6.3f}")
    print(f"{'imagebind_huge.pth (official layout)':40} {sizes['imagebind_huge.pth'] / 1e6:11.1f}")
    return ratios


def _run(args: list[str]) -> str:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode:
        raise RuntimeError(f"{args} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true", help="keep the written weights")
    parser.add_argument("--each", action="store_true", help="also every tower alone, and fp16")
    parser.add_argument("--skip-reference", action="store_true", help="no reference-style case")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.write:
        write_weights(args.write)
        return 0

    folder = Path(tempfile.mkdtemp(prefix="openbind-load-memory-", dir=args.dir))
    try:
        start = time.perf_counter()
        _run(["--write", str(folder)])
        print(
            f"wrote random imagebind_huge weights to {folder} in {time.perf_counter() - start:.0f} s"
        )
        pth, towers = str(folder / "imagebind_huge.pth"), str(folder / "towers")
        cases = {
            "baseline (import only)": {"loader": "none", "towers": [], "path": ""},
            "openbind .pth mmap, all six": {"loader": "openbind", "towers": ALL, "path": pth},
            "openbind .pth mmap, text+audio": {"loader": "openbind", "towers": TEXT_AUDIO, "path": pth},
            "openbind per-tower safetensors, all six": {
                "loader": "openbind", "towers": ALL, "path": towers,
            },
            "openbind per-tower safetensors, text+audio": {
                "loader": "openbind", "towers": TEXT_AUDIO, "path": towers,
            },
            "reference-style torch.load + full model": {
                "loader": "reference", "towers": ALL, "path": pth,
            },
        }  # fmt: skip
        if args.skip_reference:
            del cases["reference-style torch.load + full model"]
        if args.each:
            for tower in ALL:
                cases[f"openbind per-tower safetensors, {tower}"] = {
                    "loader": "openbind", "towers": [tower], "path": towers,
                }  # fmt: skip
            cases["openbind float16 copy, all six"] = {
                "loader": "openbind", "towers": ALL, "path": str(folder / "towers_fp16"),
            }  # fmt: skip
        sizes = disk_sizes(folder)
        rows = {}
        for name, case in cases.items():
            rows[name] = json.loads(_run(["--child", json.dumps(case)]).strip().splitlines()[-1])
            print(f"  measured {name}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    print(f"\n{'case':45} {'load s':>7} {'peak MiB':>9} {'anon':>7} {'file':>7} |"
          f" {'fwd s':>6} {'peak MiB':>9} {'anon':>7} {'file':>7}")  # fmt: skip
    for name, r in rows.items():
        a, f = r["load"], r["forward"]
        print(
            f"{name:45} {r['load_s']:7.1f} {a['peak']:9.0f} {a['anon']:7.0f} {a['file']:7.0f} |"
            f" {r['forward_s']:6.1f} {f['peak']:9.0f} {f['anon']:7.0f} {f['file']:7.0f}"
        )

    base = rows["baseline (import only)"]["forward"]["peak"]
    comparisons = {}
    for fmt in (".pth mmap", "per-tower safetensors"):
        for phase in ("load", "forward"):
            ta = rows[f"openbind {fmt}, text+audio"][phase]["peak"]
            six = rows[f"openbind {fmt}, all six"][phase]["peak"]
            comparisons[f"openbind {fmt}, after {phase}: text+audio / all six"] = ta / six
            comparisons[f"openbind {fmt}, after {phase}: same, baseline subtracted"] = (
                ta - base
            ) / (six - base)
    if args.each:
        six = rows["openbind per-tower safetensors, all six"]
        print("\nsingle towers (per-tower safetensors): peak RSS / all six")
        for tower in ALL:
            one = rows[f"openbind per-tower safetensors, {tower}"]
            for phase in ("load", "forward"):
                ratio = one[phase]["peak"] / six[phase]["peak"]
                comparisons[f"{tower} alone / all six, after {phase}"] = ratio
            print(
                f"  {tower:8} load {one['load']['peak']:7.0f} MiB "
                f"({comparisons[f'{tower} alone / all six, after load']:.2f}), after forward "
                f"{one['forward']['peak']:7.0f} MiB "
                f"({comparisons[f'{tower} alone / all six, after forward']:.2f})"
            )
    fp16_ratios = _size_table(sizes)
    reference_row = rows.get("reference-style torch.load + full model")
    reference = reference_row["forward"]["peak"] if reference_row else float("nan")
    for fmt in (".pth mmap", "per-tower safetensors"):
        ta = rows[f"openbind {fmt}, text+audio"]["forward"]["peak"]
        comparisons[f"openbind {fmt} text+audio (after forward) / reference-style all six"] = (
            ta / reference
        )
    print(f"\nratios (target <= {TARGET:.3f}; parameters alone give 440.3M / 1200.8M = 0.367)")
    for name, ratio in comparisons.items():
        print(f"  {ratio:6.3f}  {'meets' if ratio <= TARGET else 'misses'}  {name}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "load_memory",
                "unit": "MiB",
                "machine": {"python": platform.python_version(), "platform": platform.platform()},
                "target_ratio": TARGET,
                "cases": rows,
                "ratios": comparisons,
                "disk_bytes": sizes,
                "disk_fp16_over_fp32": fp16_ratios,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
