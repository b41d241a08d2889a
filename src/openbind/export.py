"""ONNX export of towers, checked against PyTorch with onnxruntime (optional extra `onnx`).

A tower is exported as `clips (N, *clip_shape) -> features (N, D)` (before normalisation, as
`Tower.__call__`), with a dynamic batch axis, on the plain computation (the fast path's
data-dependent trimming does not trace; onnxruntime fuses the graph itself). Deployments then
need only `onnxruntime` and the preprocessing.

Example:
    >>> tower = space.tower("audio")
    >>> path = export_tower(tower, tower.example_input(), "audio.onnx")
    >>> check_onnx(path, tower, tower.example_input(batch=3))  # max |onnxruntime - torch|
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from openbind.errors import BadInput, MissingExtra

Exporter = Literal["torchscript", "dynamo"]
OPSET = 17


def export_tower(
    tower: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    *,
    exporter: Exporter = "torchscript",
) -> Path:
    """Write `tower` as an ONNX model with input "clips" and output "features".

    Args:
        tower: a tower in eval mode (its `fast` shortcuts are switched off while exporting).
        example: a (N, *clip_shape) input of the right dtype (int64 token ids for text).
        path: the .onnx file to write (towers over 2 GB get a side file of external data).
        exporter: "torchscript" (torch's TorchScript exporter; fast to export) or "dynamo"
            (`torch.export`, needs `onnxscript`; slower to export).

    Raises:
        MissingExtra: onnx (or onnxscript for "dynamo") is not installed.
        BadInput: an unknown exporter.
    """
    _need("onnx")
    if exporter not in ("torchscript", "dynamo"):
        raise BadInput(f"exporter must be 'torchscript' or 'dynamo', got {exporter!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fast = getattr(tower, "fast", None)
    if fast is not None:
        tower.fast = False
    kwargs: dict = {"input_names": ["clips"], "output_names": ["features"]}
    if exporter == "dynamo":
        _need("onnxscript")
        kwargs["dynamic_shapes"] = {"x": {0: torch.export.Dim("batch", min=1, max=4096)}}
    else:
        kwargs["dynamic_axes"] = {"clips": {0: "batch"}, "features": {0: "batch"}}
        kwargs["opset_version"] = OPSET
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter
            torch.onnx.export(
                tower.eval(), (example,), str(path), dynamo=exporter == "dynamo", **kwargs
            )
    finally:
        if fast is not None:
            tower.fast = fast
    return path


def check_onnx(
    path: str | Path, tower: nn.Module, example: torch.Tensor, threads: int = 0
) -> float:
    """Largest |onnxruntime - PyTorch| of the features of `example` (another batch size than
    the export's checks the dynamic axis).

    Raises:
        MissingExtra: onnxruntime is not installed.
    """
    ort = _need("onnxruntime")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    with torch.no_grad():
        expected = tower(example).float()
    return float((torch.from_numpy(got).float() - expected).abs().max())


def _need(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise MissingExtra(f"ONNX export needs {name}: pip install 'openbind[onnx]'") from e
