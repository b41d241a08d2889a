"""int8 kernels on this CPU: a ViT-H MLP block (257 tokens, 1280 -> 5120 -> 1280) in fp32 and int8.

Rows, all in one run, median of `--repeats` interleaved rounds:

* torch fp32 (`nn.Linear`), the baseline (the eager reference's computation);
* openbind fp32, its default inference path (`openbind.nn.fast.linear`: weights packed once for
  oneDNN), the float32 that int8 has to beat in openbind;
* openbind int8 (`openbind.nn.quant.Int8Linear`: torch's x86 / fbgemm dynamic int8 kernels,
  weights per output channel);
* torchao `Int8DynamicActivationInt8WeightConfig` (if torchao is installed);
* onnxruntime fp32 and dynamic int8 (`quantize_dynamic`, QInt8 and QUInt8 weights; if onnxruntime
  and onnx are installed).

Prints the CPU's relevant features (AVX2, AVX-512, VNNI) with the speed-up and output cosine of
each row; writes benchmarks/results/int8_kernels.json.

Usage:
    .venv/bin/python benchmarks/int8_kernels.py [--repeats 5] [--threads 2] [--tokens 257]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from openbind.nn.fast import apply_linear
from openbind.nn.quant import Int8Linear
from openbind.quantize import cpu_summary

RESULTS = Path(__file__).parent / "results" / "int8_kernels.json"


def runners(mlp: nn.Module, x: torch.Tensor, threads: int) -> dict[str, Callable[[], torch.Tensor]]:
    out: dict[str, Callable[[], torch.Tensor]] = {"torch fp32": lambda: mlp(x)}

    def packed() -> torch.Tensor:
        return apply_linear(mlp[2], mlp[1](apply_linear(mlp[0], x)))

    out["openbind fp32 (packed oneDNN, default)"] = packed
    q = copy.deepcopy(mlp)
    q[0], q[2] = Int8Linear.from_linear(mlp[0]), Int8Linear.from_linear(mlp[2])
    out["openbind int8 (torch x86/fbgemm)"] = lambda: q(x)
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        ao = copy.deepcopy(mlp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_(ao, Int8DynamicActivationInt8WeightConfig())
        out["torchao int8 dynamic"] = lambda: ao(x)
    except Exception as e:  # not installed, or no CPU path
        print(f"torchao: skipped ({type(e).__name__}: {e})")
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic

        folder = Path(tempfile.mkdtemp(prefix="int8-kernels-"))
        path = folder / "mlp.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(mlp, (x,), str(path), dynamo=False, input_names=["x"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        xn = x.numpy()

        def session(p: Path) -> Callable[[], torch.Tensor]:
            s = ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
            return lambda: torch.from_numpy(s.run(None, {"x": xn})[0])

        out["onnxruntime fp32"] = session(path)
        for name, kind in (("QInt8", QuantType.QInt8), ("QUInt8", QuantType.QUInt8)):
            qpath = folder / f"mlp_{name}.onnx"
            quantize_dynamic(str(path), str(qpath), weight_type=kind)
            out[f"onnxruntime int8 ({name} weights)"] = session(qpath)
    except Exception as e:
        print(f"onnxruntime: skipped ({type(e).__name__}: {e})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--tokens", type=int, default=257)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(1280, 5120), nn.GELU(), nn.Linear(5120, 1280)).eval()
    x = torch.randn(1, args.tokens, 1280)
    features = cpu_summary()
    print(f"CPU features: {features}; {args.threads} threads; load {os.getloadavg()[0]:.2f}")
    with torch.inference_mode():
        fns = runners(mlp, x, args.threads)
        outs = {name: fn().float() for name, fn in fns.items()}  # warm-up
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(args.repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["torch fp32"])
    fp32 = statistics.median(times["openbind fp32 (packed oneDNN, default)"])
    rows = []
    for name in fns:
        t = statistics.median(times[name])
        cos = float(F.cosine_similarity(outs[name].flatten(), outs["torch fp32"].flatten(), dim=0))
        rows.append(
            {
                "kernel": name,
                "ms": t * 1e3,
                "speedup": base / t,
                "speedup_vs_packed_fp32": fp32 / t,
                "cosine": cos,
            }
        )
        print(
            f"{name:40} {t * 1e3:9.1f} ms  x{base / t:5.2f} over torch fp32, "
            f"x{fp32 / t:5.2f} over openbind fp32  cos {cos:.5f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"cpu": features, "threads": args.threads, "tokens": args.tokens,
             "loadavg": os.getloadavg(), "rows": rows},
            indent=1,
        )
    )  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
