"""`openbind export`: write each tower of a space as ONNX and check it with onnxruntime.

openbind export imagebind_huge ./onnx --weights imagebind_huge.pth --modalities text,audio
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from openbind.errors import BadInput


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export towers to ONNX (needs the 'onnx' extra)",
        description="Write one ONNX file per tower (clips -> features, dynamic batch) into OUT, "
        "run each with onnxruntime on a fresh input and print the largest difference from "
        "PyTorch. Needs: pip install 'openbind[onnx]'.",
    )
    p.add_argument("model", help="registered space, e.g. imagebind_huge")
    p.add_argument("out", type=Path, metavar="OUT", help="folder to write the .onnx files to")
    p.add_argument("--weights", metavar="PATH", help="local weights file or converted folder")
    p.add_argument(
        "--modalities", help="comma-separated towers to export (default: all of the model's)"
    )
    p.add_argument(
        "--exporter",
        choices=["torchscript", "dynamo"],
        default="torchscript",
        help="torch exporter (default: %(default)s; dynamo needs onnxscript and is slower)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import openbind
    from openbind.export import check_onnx, export_tower
    from openbind.types import Modality

    wanted = [Modality.parse(m) for m in args.modalities.split(",")] if args.modalities else None
    space = openbind.load(args.model, modalities=wanted, weights=args.weights)
    report = []
    for modality in space.modalities:
        tower = space.tower(modality)
        example = getattr(tower, "example_input", None)
        if example is None:
            raise BadInput(
                f"{space.model_id}: the {modality.value} tower cannot make an example input"
            )
        path = export_tower(
            tower, example(2), args.out / f"{modality.value}.onnx", exporter=args.exporter
        )
        row = {"modality": modality.value, "file": str(path), "bytes": _size(path)}
        if not args.no_check:
            row["max_abs_diff"] = check_onnx(path, tower, example(3, seed=1))
        report.append(row)
        if not args.json:
            diff = (
                f"  max |onnxruntime - torch| {row['max_abs_diff']:.2e}"
                if "max_abs_diff" in row
                else ""
            )
            print(f"{modality.value:>8}  {row['bytes'] / 2**20:9.1f} MiB  {path}{diff}", flush=True)
    (args.out / "export.json").write_text(
        json.dumps({"model": space.model_id, "towers": report}, indent=1)
    )
    if args.json:
        print(json.dumps(report))
    return 0


def _size(path: Path) -> int:
    """Bytes of the model file and any external-data side files next to it."""
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.stem))
