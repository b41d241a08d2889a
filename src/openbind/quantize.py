"""Run a loaded space faster: thread count, reduced precision (bf16 / fp16) and int8 linears.

`optimize(space, dtype=..., int8=..., threads=...)` changes a loaded `SpaceModel` (or any module
built on `openbind.nn`) in place and returns it. What the machine can run is detected, never
assumed:

* **bf16 / fp16** are used where the hardware has native support: a CUDA device (bf16 where
  `torch.cuda.is_bf16_supported()`), or a CPU with AVX-512 BF16 / AMX (bf16) or AVX-512 FP16 /
  AMX-FP16 (fp16). On other CPUs torch emulates them, several times slower than float32: the
  request falls back to float32 with a `PrecisionWarning` (or raises `UnsupportedBackend` with
  `strict=True`).
* **int8** (dynamic quantisation of the transformer blocks' linear layers, `openbind.nn.quant`)
  runs on x86 CPUs with torch's fbgemm / x86 engine; elsewhere it falls back to float32 with a
  warning (or raises with `strict=True`). Its speed-up depends on the CPU's int8 dot-product
  instructions: AVX-512 VNNI / AVX-VNNI >> AVX2 (see docs/speed.md).

Example:
    >>> space = openbind.load("imagebind_huge", modalities=["text"])
    >>> optimize(space, int8=True, threads=4)
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from openbind.errors import ConfigError, UnsupportedBackend

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""Names accepted for `dtype` (also "fp32", "bf16", "fp16")."""
_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
_NATIVE_CPU = {
    torch.bfloat16: ("avx512_bf16", "amx_bf16"),
    torch.float16: ("avx512_fp16", "amx_fp16"),
}


class PrecisionWarning(UserWarning):
    """A requested dtype or backend is not available here; openbind fell back to float32."""


@functools.cache
def cpu_features() -> frozenset[str]:
    """The CPU flags of /proc/cpuinfo (empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_summary() -> dict[str, bool]:
    """The instruction sets that decide fp32 / int8 / bf16 speed, as found on this CPU."""
    flags = cpu_features()
    return {
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        "vnni": bool({"avx512_vnni", "avx_vnni"} & flags),
        "bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
        "fp16": bool({"avx512_fp16", "amx_fp16"} & flags),
    }


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """`torch.float32`, `torch.bfloat16` or `torch.float16` from a name or dtype.

    Raises:
        ConfigError: another dtype.
    """
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
        raise ConfigError(f"dtype {dtype} is not one of {list(DTYPES)}")
    name = _ALIASES.get(str(dtype).lower(), str(dtype).lower())
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of {list(DTYPES)}")
    return DTYPES[name]


def native(dtype: torch.dtype, device: torch.device | str = "cpu") -> bool:
    """Whether `device` computes in `dtype` natively (float32 always does)."""
    device = torch.device(device)
    if dtype == torch.float32:
        return True
    if device.type == "cuda":
        return dtype == torch.float16 or torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(set(_NATIVE_CPU.get(dtype, ())) & cpu_features())
    return False


def optimize(
    model: Any,
    *,
    dtype: str | torch.dtype | None = None,
    int8: bool = False,
    threads: int | None = None,
    strict: bool = False,
    prepack: bool = False,
) -> nn.Module:
    """Set threads, cast to `dtype` or quantise the transformer blocks to int8, in place.

    Args:
        model: a `SpaceModel`, tower or model built on `openbind.nn`, in eval mode (any other
            object is returned as it is; a dtype or int8 request then warns or, strict, fails).
        dtype: "float32", "bfloat16" or "float16" (None: leave as is).
        int8: dynamic int8 linear layers in the transformer blocks (CPU; float32 elsewhere).
        threads: `torch.set_num_threads` (process-wide).
        strict: raise `UnsupportedBackend` instead of falling back with a `PrecisionWarning`.
        prepack: swap the float32 block linears for `openbind.nn.packed` layers (oneDNN,
            weights packed once, plain weights dropped; CPU; ignored with int8). Inference
            already runs on packed weights by default (`openbind.nn.fast.linear`, state dict
            kept); this swap also frees the plain weights of models held in anonymous memory
            (not memory-mapped), at the price of the state dict (inference only).

    Returns:
        `model`, in eval mode.

    Raises:
        ConfigError: an unknown dtype, threads < 1, or `int8` together with a 16-bit dtype.
        UnsupportedBackend: (strict) the machine cannot run the request natively.
    """
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    target = parse_dtype(dtype) if dtype is not None else None
    if int8 and target not in (None, torch.float32):
        raise ConfigError("int8 runs the blocks in int8 and the rest in float32; drop dtype")
    if not isinstance(model, nn.Module):  # e.g. a fused space over other spaces
        if int8 or target not in (None, torch.float32):
            _unavailable(f"{type(model).__name__} is not a torch module to convert", strict)
        return model
    device = _device(model)
    if target is not None and target != torch.float32:
        if native(target, device):
            model.to(dtype=target)
        else:
            _unavailable(
                f"{device.type} has no native {target} (CPU flags needed: "
                f"{' or '.join(_NATIVE_CPU.get(target, ('cuda',)))}); it would run emulated, "
                "slower than float32",
                strict,
            )
    elif target == torch.float32:
        model.to(dtype=torch.float32)
    if int8:
        _int8(model, device, strict)
    elif prepack:
        _prepack(model, device, strict)
    return model.eval()


def _prepack(model: nn.Module, device: torch.device, strict: bool) -> None:
    from openbind.nn.packed import prepack_available, prepack_blocks

    if device.type != "cpu" or not prepack_available():
        _unavailable(
            f"oneDNN packed linears need a CPU torch with mkldnn (model on {device})", strict
        )
    elif next(model.parameters()).dtype == torch.float32:
        prepack_blocks(model)


def _int8(model: nn.Module, device: torch.device, strict: bool) -> None:
    from openbind.nn.quant import int8_engine, quantize_blocks

    if device.type != "cpu":
        _unavailable(f"int8 kernels run on the CPU only, the model is on {device}", strict)
    elif int8_engine() is None:
        _unavailable("this torch build has no x86 int8 kernels (fbgemm / onednn)", strict)
    else:
        if next(model.parameters()).dtype != torch.float32:
            model.to(dtype=torch.float32)
        quantize_blocks(model)


def _unavailable(reason: str, strict: bool) -> None:
    if strict:
        raise UnsupportedBackend(reason)
    warnings.warn(f"{reason}; keeping float32", PrecisionWarning, stacklevel=3)


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")
