"""Inference speed of ImageBind-huge towers: openbind's user path vs the plain eager reference.

Side by side in one run, on the same random weights of the huge shapes:

* **plain**: `benchmarks/plain_imagebind.PlainTower`, the reference computation written with
  stock torch modules (sequence-first `nn.MultiheadAttention`, every text padded to 77 tokens and
  run whole, Conv3d over repeated image frames, every token through every block);
* **openbind**: `space.encode(modality, items)` of a `SpaceModel` built by
  `openbind.zoo.imagebind.space_of` (token-id tensors for text, decoded clip tensors for the
  others), i.e. what a user gets, batching, pooling and normalisation included;
* optional rows: `--flinear` (the same space with `openbind.nn.fast`'s lazy weight prepacking
  off, i.e. every block linear on `F.linear`, the default before prepacking was), and through
  `openbind.quantize.optimize`: `--prepack` (block linears swapped for packed oneDNN layers,
  plain weights dropped), `--int8`, `--dtypes bfloat16,float16`.

Per case: median seconds per batch over `--repeats` interleaved rounds (after one warm-up each),
the speed-up over plain, the fraction of the same-run fp32 GEMM rate each reaches (FLOPs it does /
time / rate; openbind text does fewer FLOPs, so the "ref work" column counts the plain FLOPs),
the fraction of the rate of the tower's own four linear shapes timed in the same rounds ("shape
%": the fp32 bound of a tower made of these GEMMs on `F.linear`; "packed %": the same shapes with
the weights packed once for oneDNN, the bound of openbind's default path), the peak RSS increase during a call, the max
|difference| and min cosine of the normalised embeddings against plain, and the top-1 agreement
with plain on a fixed bank of 100 random label vectors. The fp32 GEMM rate (square `torch.mm`, 2048) is measured at the start
and end of the run, and the load average is recorded: the machine may be shared.

Usage:
    .venv/bin/python benchmarks/inference.py                       # full huge towers (slow)
    .venv/bin/python benchmarks/inference.py --blocks 4 --repeats 3 # quick: 4 blocks per tower
    .venv/bin/python benchmarks/inference.py --towers text --text-batches 8,64 --int8

Prints the CPU model and a table, writes benchmarks/results/inference.json (or `--out`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from plain_imagebind import PlainTower

from openbind.encoders.imagebind import ImageBindConfig, ImageBindModel
from openbind.nn.fast import packed_bytes, set_lazy_prepack
from openbind.preprocess.text import TextTransform
from openbind.types import Modality
from openbind.zoo.imagebind import space_of

RESULTS = Path(__file__).parent / "results" / "inference.json"
WORDS = [
    "a",
    "the",
    "dog",
    "cat",
    "photo",
    "of",
    "small",
    "large",
    "red",
    "blue",
    "man",
    "woman",
    "child",
    "playing",
    "running",
    "on",
    "in",
    "with",
    "beach",
    "street",
    "city",
    "mountain",
    "river",
    "car",
    "bicycle",
    "bird",
    "barking",
    "singing",
    "guitar",
    "piano",
    "rain",
    "wind",
    "water",
    "train",
    "engine",
    "crowd",
    "cheering",
    "kitchen",
    "table",
    "coffee",
    "night",
    "sunset",
    "snow",
    "forest",
]
TARGETS = {"text": 3.0, "vision": 1.3, "video": 1.3, "audio": 1.3}
GEMM_FRACTION_TARGET = 0.85
TOWER_OF = {"text": "text", "vision": "vision", "video": "vision", "audio": "audio"}
MODALITY_OF = {
    "text": Modality.TEXT,
    "vision": Modality.IMAGE,
    "video": Modality.VIDEO,
    "audio": Modality.AUDIO,
}


def cpu_info() -> dict[str, Any]:
    """CPU model and the SIMD features that matter for fp32 / int8 / bf16 kernels."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "", "x86_64"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")
    return {"model": model, "cores": os.cpu_count(), "features": [f for f in wanted if f in flags]}


def gemm_rate(n: int = 2048, repeats: int = 3) -> float:
    """fp32 GFLOP/s of an n x n matmul (best of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_time(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class RssPeak:
    """Peak resident memory increase (MiB) while the context runs (sampled every 2 ms)."""

    def __init__(self) -> None:
        self.peak = 0.0

    @staticmethod
    def rss() -> float:
        return (
            int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGESIZE") / 2**20
        )

    def __enter__(self) -> RssPeak:
        self.base = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self.rss() - self.base)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss() - self.base)


def prompts(n: int, seed: int = 0) -> list[str]:
    """`n` prompts of 2-10 words."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(2, 10))) for _ in range(n)]


def trunk_flops(width: int, depth: int, lengths: list[int], last_rows: int | None = None) -> float:
    """FLOPs of `depth` blocks over sequences of these lengths (projections, MLP, attention).

    `last_rows`: the last block computes its q/k/v for every token but the attention output,
    projection and MLP only for that many rows (openbind's pooled-row shortcut).
    """
    tokens = sum(lengths)
    attn = sum(4 * n * n * width for n in lengths)  # QK^T and AV
    block = 24 * width * width * tokens + attn
    if last_rows is None:
        return depth * block
    last = 6 * width * width * tokens + 18 * width * width * last_rows + attn / max(tokens, 1)
    return (depth - 1) * block + last


def block_gemms(width: int, tokens: int, packed: bool = False) -> Callable[[], float]:
    """A callable timing one block's four linear layers at the tower's own shapes (M = tokens):
    the fp32 rate a tower made of them could reach here; returns GFLOP/s. `packed`: the weights
    packed once for oneDNN (openbind's default inference path) instead of `F.linear`."""
    x, h = torch.randn(tokens, width), torch.randn(tokens, 4 * width)
    shapes = ((3 * width, width), (width, width), (4 * width, width), (width, 4 * width))
    weights = [torch.randn(n, k) for n, k in shapes]
    inputs = [x, x, x, h]
    flops = 2 * tokens * width * width * 12
    if packed:
        weights = [torch.ops.mkldnn._reorder_linear_weight(w, None) for w in weights]

        def linear(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            return torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")
    else:
        linear = F.linear

    def run() -> float:
        start = time.perf_counter()
        for a, w in zip(inputs, weights, strict=True):
            linear(a, w)
        return flops / (time.perf_counter() - start) / 1e9

    run()
    return run


def case_inputs(case: str, batch: int, cfg: ImageBindConfig, seed: int = 0) -> dict[str, Any]:
    """Inputs of one case: plain tensor, openbind items, token lengths per clip."""
    gen = torch.Generator().manual_seed(seed)
    if case == "text":
        ids = TextTransform()  # real CLIP token ids of typical prompts
        rows = [ids(p)[0] for p in prompts(batch, seed)]
        plain = torch.stack(rows)  # (B, 77)
        lengths = [int(r.argmax()) + 1 for r in rows]
        return {"plain": plain, "items": rows, "lengths": lengths, "full": [77] * batch}
    if case == "vision":
        x = torch.randn(batch, 3, 224, 224, generator=gen)
        return {"plain": x, "items": list(x), "lengths": [257] * batch, "full": [257] * batch}
    if case == "video":  # `batch` videos of 5 clips x 3 crops, 2 frames each
        x = torch.randn(batch, 15, 3, 2, 224, 224, generator=gen)
        n = [257] * (15 * batch)
        return {"plain": x, "items": list(x), "lengths": n, "full": n}
    if case == "audio":  # `batch` recordings of 3 clips
        x = torch.randn(batch, 3, 1, 128, 204, generator=gen)
        n = [229] * (3 * batch)
        return {"plain": x, "items": list(x), "lengths": n, "full": n}
    raise ValueError(case)


def top1_agreement(out: torch.Tensor, ref: torch.Tensor, labels: int = 100) -> float:
    """Fraction of rows whose nearest of `labels` fixed random unit vectors is the same."""
    bank = F.normalize(
        torch.randn(labels, ref.shape[1], generator=torch.Generator().manual_seed(1))
    )
    return float(((out @ bank.T).argmax(1) == (ref @ bank.T).argmax(1)).float().mean())


def plain_call(tower: PlainTower, x: torch.Tensor) -> torch.Tensor:
    """Reference forward: clips of multi-clip items in one pass, per-clip normalised, averaged."""
    with torch.inference_mode():
        if x.ndim >= 5 and not (x.ndim == 5 and tower.name == "vision"):
            b, s = x.shape[:2]
            e = tower(x.flatten(0, 1)).unflatten(0, (b, s)).mean(1)  # as the reference
            return F.normalize(e, dim=-1)
        return tower(x)


def build(tower: str, blocks: int | None, seed: int = 0) -> ImageBindModel:
    cfg = ImageBindConfig.huge()
    if blocks is not None:
        t = cfg.tower(tower)
        cfg = dataclasses.replace(
            cfg, **{tower: dataclasses.replace(t, blocks=min(blocks, t.blocks))}
        )
    torch.manual_seed(seed)
    model = ImageBindModel(cfg, modalities=[tower]).eval()
    with torch.no_grad():  # non-zero biases, so that a wrong layout cannot hide
        for name, p in model.named_parameters():
            if name.endswith("bias") and p.ndim == 1:
                p.normal_(std=0.02)
    return model


def run_case(
    case: str,
    batch: int,
    model: ImageBindModel,
    plain: PlainTower,
    variants: dict[str, Callable[[list[Any]], torch.Tensor]],
    repeats: int,
) -> list[dict[str, Any]]:
    """Time plain and each openbind variant on one input, interleaved; one row each."""
    cfg = model.config
    inp = case_inputs(case, batch, cfg)
    tcfg = cfg.tower(TOWER_OF[case])
    ref_flops = trunk_flops(tcfg.width, tcfg.blocks, inp["full"])
    fast_flops = trunk_flops(tcfg.width, tcfg.blocks, inp["lengths"], last_rows=len(inp["lengths"]))
    runners: dict[str, Callable[[], torch.Tensor]] = {
        "plain": lambda: plain_call(plain, inp["plain"])
    }
    for name, fn in variants.items():
        runners[name] = lambda fn=fn: fn(inp["items"])
    outputs = {name: fn() for name, fn in runners.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runners}
    peaks: dict[str, float] = dict.fromkeys(runners, 0.0)
    shape_gemm, shape_rates = block_gemms(tcfg.width, sum(inp["full"])), []
    packed_gemm, packed_rates = block_gemms(tcfg.width, sum(inp["full"]), packed=True), []
    for _ in range(repeats):
        shape_rates.append(shape_gemm())  # same round, same load as the towers
        packed_rates.append(packed_gemm())
        for name, fn in runners.items():
            with RssPeak() as mem:
                times[name].append(_time(fn))
            peaks[name] = max(peaks[name], mem.peak)
    shape_rate = statistics.median(shape_rates)
    packed_rate = statistics.median(packed_rates)
    ref = outputs["plain"]
    base = statistics.median(times["plain"])
    rows = []
    for name in runners:
        out = outputs[name].float()
        t = statistics.median(times[name])
        rows.append(
            {
                "case": case,
                "batch": batch,
                "impl": name,
                "seconds": t,
                "times": times[name],
                "speedup": base / t,
                "flops": ref_flops if name == "plain" else fast_flops,
                "ref_flops": ref_flops,
                "shape_gemm_gflops": shape_rate,
                "shape_gemm_fraction": (ref_flops if name == "plain" else fast_flops)
                / t
                / 1e9
                / shape_rate,
                "packed_shape_gemm_gflops": packed_rate,
                "packed_shape_gemm_fraction": (ref_flops if name == "plain" else fast_flops)
                / t
                / 1e9
                / packed_rate,
                "peak_mib": peaks[name],
                "max_abs": float((out - ref).abs().max()),
                "min_cos": float(F.cosine_similarity(out, ref).min()),
                "top1_agreement": top1_agreement(out, ref),
                "packed_mib": packed_bytes() / 2**20,
                "tokens": sum(inp["lengths"]),
                "tokens_plain": sum(inp["full"]),
            }
        )
    return rows


def openbind_variants(
    model: ImageBindModel, case: str, args: argparse.Namespace
) -> dict[str, Callable[[list[Any]], torch.Tensor]]:
    """openbind user paths: fp32, and the requested reduced-precision ones."""
    m = MODALITY_OF[case]
    out: dict[str, Callable[[list[Any]], torch.Tensor]] = {}

    def encoder(space: Any) -> Callable[[list[Any]], torch.Tensor]:
        if m is not Modality.TEXT:  # items are decoded clip tensors already
            space.encoders[m] = dataclasses.replace(space.encoders[m], transform=_clips)
        return lambda items: space.encode(m, items, batch_size=len(items)).vectors

    out["openbind"] = encoder(space_of("bench", model, [m]))
    if args.flinear:  # the same space with lazy prepacking off: every block linear on F.linear
        run = encoder(space_of("bench", model, [m]))

        def flinear(items: list[Any], run: Callable[[list[Any]], torch.Tensor] = run) -> Any:
            old = set_lazy_prepack(False)
            try:
                return run(items)
            finally:
                set_lazy_prepack(old)

        out["openbind-F.linear"] = flinear
    extra = [("int8", {"int8": True})] if args.int8 else []
    extra += [("prepack", {"prepack": True})] if args.prepack else []
    extra += [(d, {"dtype": d}) for d in args.dtypes]
    if extra:
        from openbind.quantize import optimize

        for label, kwargs in extra:
            copy = build(TOWER_OF[case], args.blocks)
            copy.load_state_dict(model.state_dict(), assign=True)
            optimized = optimize(copy, **kwargs)  # warns and keeps float32 where not native
            got = next(p.dtype for n, p in optimized.named_parameters() if "trunks" in n)
            if label in ("bfloat16", "float16") and got == torch.float32:
                label += "(fell back to fp32)"
            out[f"openbind-{label}"] = encoder(space_of("bench", optimized, [m]))
    return out


def _clips(x: torch.Tensor) -> torch.Tensor:
    """Identity preprocessing of decoded clips: an image (3, H, W) is one clip."""
    return x[None] if x.ndim == 3 else x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--towers", default="text,vision,video,audio")
    parser.add_argument("--blocks", type=int, help="cap blocks per tower (quick runs)")
    parser.add_argument("--text-batches", default="8,64")
    parser.add_argument("--vision-batches", default="1")
    parser.add_argument("--video-batches", default="1")
    parser.add_argument("--audio-batches", default="1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--int8", action="store_true", help="add openbind int8 rows")
    parser.add_argument(
        "--prepack", action="store_true", help="add rows of optimize(prepack=True) (swapped layers)"
    )
    parser.add_argument(
        "--flinear", action="store_true", help="add rows with lazy prepacking off (F.linear)"
    )
    parser.add_argument("--dtypes", default="", help="add rows in these dtypes, e.g. bfloat16")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    torch.set_num_threads(args.threads)
    cpu = cpu_info()
    print(
        f"CPU: {cpu['model']} ({cpu['cores']} cores; {', '.join(cpu['features'])}), "
        f"torch {torch.__version__}, {args.threads} threads, load {os.getloadavg()[0]:.2f}"
    )
    gemm_start = gemm_rate()
    print(f"fp32 GEMM (2048^3): {gemm_start:.1f} GFLOP/s")
    rows: list[dict[str, Any]] = []
    models: dict[str, ImageBindModel] = {}
    for case in args.towers.split(","):
        tower = TOWER_OF[case]
        if tower not in models:
            models = {tower: build(tower, args.blocks)}  # one tower in memory at a time
        model = models[tower]
        plain = PlainTower(model, tower).eval()
        variants = openbind_variants(model, case, args)
        for batch in map(int, getattr(args, f"{case}_batches").split(",")):
            rows += run_case(case, batch, model, plain, variants, args.repeats)
            for r in rows[-len(variants) - 1 :]:
                _print_row(r, gemm_start)
    gemm_end = gemm_rate()
    gemm = (gemm_start + gemm_end) / 2
    for r in rows:
        r["gemm_fraction"] = r["flops"] / r["seconds"] / 1e9 / gemm
        r["ref_work_fraction"] = r["ref_flops"] / r["seconds"] / 1e9 / gemm
    print(f"fp32 GEMM at the end: {gemm_end:.1f} GFLOP/s, load {os.getloadavg()[0]:.2f}")
    _table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "cpu": cpu,
        "torch": torch.__version__,
        "threads": args.threads,
        "blocks": args.blocks,
        "gemm_gflops": {"start": gemm_start, "end": gemm_end},
        "loadavg_end": os.getloadavg(),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "targets": {"speedup": TARGETS, "gemm_fraction": GEMM_FRACTION_TARGET},
        "rows": rows,
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


def _print_row(r: dict[str, Any], gemm: float) -> None:
    print(
        f"  {r['case']:>6} b={r['batch']:<3} {r['impl']:<16} {r['seconds']:8.3f} s  "
        f"x{r['speedup']:.2f}  {r['flops'] / r['seconds'] / 1e9 / gemm:5.0%} of GEMM  "
        f"cos {r['min_cos']:.7f}",
        flush=True,
    )


def _table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'case':>6} {'batch':>5} {'impl':<16} {'s/batch':>8} {'speed-up':>8} {'GEMM %':>7} "
        f"{'ref work %':>10} {'shape %':>7} {'packed %':>8} {'peak MiB':>8} {'max |d|':>9} {'min cos':>10} "
        f"{'top-1':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['case']:>6} {r['batch']:>5} {r['impl']:<16} {r['seconds']:8.3f} "
            f"{r['speedup']:7.2f}x {r['gemm_fraction']:7.0%} {r['ref_work_fraction']:10.0%} "
            f"{r['shape_gemm_fraction']:7.0%} {r['packed_shape_gemm_fraction']:8.0%} "
            f"{r['peak_mib']:8.0f} {r['max_abs']:9.2e} {r['min_cos']:10.7f} "
            f"{r['top1_agreement']:6.0%}"
        )


if __name__ == "__main__":
    main()
