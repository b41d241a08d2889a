"""`openbind classify`: zero-shot classification of files of any modality against text labels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from openbind.cli.embed_cmd import add_load_options, emit_json, load_space, speed_options

EXAMPLES = """
examples:
  openbind classify cat.jpg --labels cat,dog,car
  openbind classify clips/*.wav --labels "rain,dog barking,traffic" -k 2
  openbind classify scan.png --modality thermal --labels person,car --json
  openbind classify photo.jpg --labels cat,dog --templates none      # labels used as they are

Each label is embedded through prompt templates for the file's modality ("a photo of a {}.",
...; --templates none uses the bare label), and probabilities are the softmax of the cosine
similarities times the model's logit scale. The modality of each file is detected from its
extension and content unless --modality says it.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "classify",
        help="zero-shot classify files against text labels",
        description="Score files of any modality against text labels in a joint embedding space.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to classify")
    parser.add_argument("--labels", required=True, help="comma-separated class labels")
    parser.add_argument(
        "--modality", metavar="MODALITY", help="the files' modality (default: detected)"
    )
    parser.add_argument("--model", default="starter", help="space to use (default: starter)")
    add_load_options(parser)
    parser.add_argument(
        "--templates",
        default="default",
        metavar="SET",
        help="prompt template set ('default', 'none' for bare labels, or a stored set name)",
    )
    parser.add_argument("-k", type=int, default=3, help="labels shown per file (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from openbind.errors import BadInput
    from openbind.pipeline import Skipped, detect
    from openbind.pipeline.plan import Todo
    from openbind.pipeline.runner import model_inputs, skip
    from openbind.tasks import zero_shot
    from openbind.types import Modality

    labels = [label.strip() for label in args.labels.split(",")]
    if args.k < 1:
        raise BadInput(f"-k must be >= 1, got {args.k}")
    forced = Modality.parse(args.modality) if args.modality else None
    groups: dict[Modality, list[Path]] = {}
    failed: list[dict[str, str]] = []
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            failed.append({"file": name, "error": "no such file"})
            continue
        modality = forced or detect(path)
        if modality is None:
            failed.append({"file": name, "error": "unsupported file type (give --modality)"})
        else:
            groups.setdefault(modality, []).append(path)
    space = load_space(
        args.model, [Modality.TEXT, *groups], args.weights, args.fast_images, **speed_options(args)
    )
    templates = ["{}"] if args.templates == "none" else args.templates
    results: list[dict[str, Any]] = []
    for modality, paths in groups.items():
        if modality not in space.modalities:
            reason = f"{space.model_id} has no {modality.value} tower"
            failed += [{"file": str(p), "error": reason} for p in paths]
            continue
        skipped: list[Skipped] = []
        inputs, good = model_inputs([Todo(p, modality, "", 0, 0.0) for p in paths], skipped)
        report = space.encode_report(modality, inputs)
        skipped += [skip(good[e.index], e.reason) for e in report.errors]
        failed += [{"file": s.path, "error": s.reason} for s in skipped]
        if not report.kept:
            continue
        scores = zero_shot(space, report.embeddings, labels, modality, templates=templates)
        for i, top in zip(report.kept, scores.top(args.k), strict=True):
            results.append(
                {
                    "file": str(good[i].path),
                    "modality": modality.value,
                    "label": top[0][0],
                    "top": [{"label": label, "probability": p} for label, p in top],
                }
            )
    if args.json:
        emit_json({"model_id": space.model_id, "results": results, "errors": failed})
    else:
        _print(results, failed)
    if not results:
        raise BadInput("no file could be classified")
    return 0


def _print(results: list[dict[str, Any]], failed: list[dict[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("file", overflow="fold")
    table.add_column("modality")
    table.add_column("label", style="bold")
    table.add_column("probabilities")
    for r in results:
        probs = ", ".join(f"{t['label']} {t['probability']:.2f}" for t in r["top"])
        table.add_row(r["file"], r["modality"], r["label"], probs)
    Console().print(table)
    for f in failed:
        print(f"skipped {f['file']}: {f['error']}", file=sys.stderr)
