"""`openbind eval`: put a space on a benchmark folder, beside the published numbers.

Subcommands: `zero-shot`, `retrieval`, `linear-probe` (a benchmark folder in a known layout),
`starter-bench` (the offline benchmark of the starter space) and `layouts` (what is known).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openbind.eval.report import EvalReport

EXAMPLES = """
examples:
  openbind eval zero-shot ESC-50-master --layout esc50 --model imagebind_huge --compare
  openbind eval zero-shot imagenet/val --layout imagefolder --templates imagenet --plot acc.png
  openbind eval zero-shot LLVIP --layout llvip --templates llvip_languagebind --json
  openbind eval retrieval clotho --layout clotho --compare --plot recall.png
  openbind eval retrieval LLVIP --layout llvip --pair image-thermal      # emergent pair
  openbind eval linear-probe ESC-50-master --layout esc50 --shots 4      # few-shot
  openbind eval starter-bench --markdown                                  # README table
  openbind eval layouts

Embeddings are cached by content hash under $OPENBIND_HOME/eval (--cache DIR to move it,
--no-cache to skip it): another template set or protocol on the same data encodes nothing
again. Every report records the space, its card and weights checksums, the openbind version,
a checksum of the data, the templates and the seed (see --json). Published numbers shown by
--compare are the papers', marked "published": openbind did not measure them.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a space on standard benchmarks (zero-shot, retrieval, linear probe)",
        description="Evaluate a space on a benchmark folder: a table, JSON, a plot, and the "
        "published numbers beside it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    for name, help_text in (
        ("zero-shot", "zero-shot classification with prompt-template ensembles"),
        ("retrieval", "cross-modal retrieval in both directions (captions, emergent pairs)"),
        ("linear-probe", "logistic regression on frozen embeddings (few-shot with --shots)"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("data", metavar="DATA", help="the benchmark folder")
        p.add_argument("--layout", required=True, help="how DATA is laid out (see `eval layouts`)")
        _common(p)
        if name == "zero-shot":
            p.add_argument(
                "--templates",
                metavar="SET",
                help="stored template set (default: the benchmark's; see docs/eval.md)",
            )
        if name == "retrieval":
            p.add_argument("--pair", metavar="A-B", help="only this part, e.g. image-thermal")
        if name == "linear-probe":
            p.add_argument("--shots", type=int, metavar="K", help="training items per class")
            p.add_argument("--folds", type=int, default=5, help="folds without splits (5)")
        p.set_defaults(run=run)
    bench = sub.add_parser("starter-bench", help="the offline benchmark of the starter space")
    bench.add_argument("--root", metavar="DIR", help="where to build its data (default: cache)")
    bench.add_argument("--model", default="starter", help="space to run it on (default: starter)")
    bench.add_argument("--markdown", action="store_true", help="print the README table")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.add_argument("--output", metavar="FILE", help="also write the JSON report here")
    bench.set_defaults(run=run_bench)
    layouts = sub.add_parser("layouts", help="list the known dataset layouts")
    layouts.set_defaults(run=run_layouts)


def _common(p: argparse.ArgumentParser) -> None:
    from openbind.cli.embed_cmd import add_load_options

    p.add_argument("--model", default="starter", help="space to evaluate (default: starter)")
    add_load_options(p)
    p.add_argument("--modality", metavar="M", help="the files' modality (class folders)")
    p.add_argument("--split", metavar="S", help="the split to read (layout's default)")
    p.add_argument("--classes", metavar="FILE", help="class names for id-named class folders")
    p.add_argument("--seed", type=int, default=0, help="seed for splits and few-shot draws (0)")
    p.add_argument(
        "--benchmark",
        metavar="NAME",
        help="the benchmark the folder is, for --compare (default: from the layout; "
        "imagefolder with 1,000 image classes is imagenet)",
    )
    p.add_argument("--batch-size", type=int, metavar="N", help="items per forward pass")
    p.add_argument("--cache", metavar="DIR", help="embedding cache (default: $OPENBIND_HOME/eval)")
    p.add_argument("--no-cache", action="store_true", help="keep embeddings in memory only")
    p.add_argument("--compare", action="store_true", help="show the published numbers beside")
    p.add_argument("--plot", metavar="FILE", help="write a plot (per-class accuracy or recall@k)")
    p.add_argument("--output", metavar="FILE", help="also write the JSON report here")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import warnings
    from pathlib import Path

    from openbind.cli.embed_cmd import load_space
    from openbind.eval import CachedEncoder, LayoutOptions, linear_probe, load_dataset
    from openbind.eval import retrieval as retrieve
    from openbind.eval import zero_shot as classify
    from openbind.eval.layouts import PartialDataset
    from openbind.hub import cache_dir
    from openbind.types import Modality

    options = LayoutOptions(args.modality, args.split, Path(args.classes) if args.classes else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PartialDataset)
        data = load_dataset(args.data, args.layout, options)
    if args.benchmark:
        data = dataclasses.replace(data, name=args.benchmark)
    for w in caught:
        print(f"openbind: warning: {w.message}", file=sys.stderr)
    needed = {Modality.TEXT}
    if data.classification is not None and args.protocol != "retrieval":
        needed.add(data.classification.modality)
    if args.protocol == "retrieval":
        needed |= {m for p in data.retrieval for m in (p.a_modality, p.b_modality)}
    space = load_space(args.model, needed, args.weights, args.fast_images)
    cache = None if args.no_cache else Path(args.cache) if args.cache else cache_dir() / "eval"
    encoder = CachedEncoder(
        space,
        cache,
        batch_size=args.batch_size,
        progress=not (args.json or args.no_progress),
    )
    if args.protocol == "zero-shot":
        report = classify(space, data, templates=args.templates, encoder=encoder, seed=args.seed)
    elif args.protocol == "retrieval":
        report = retrieve(space, data, pair=args.pair, encoder=encoder, seed=args.seed)
    else:
        report = linear_probe(
            space, data, shots=args.shots, folds=args.folds, encoder=encoder, seed=args.seed
        )
    show(report, args)
    return 0


def show(report: EvalReport, args: argparse.Namespace) -> None:
    """Print the report (table or JSON), the comparison, and write the plot and JSON file."""
    import json

    from openbind.eval.published import compare

    rows = compare(report) if getattr(args, "compare", False) else []
    if getattr(args, "compare", False) and not rows:
        print(f"openbind: no published numbers stored for {report.benchmark}", file=sys.stderr)
    if getattr(args, "plot", None):
        from openbind.eval.plot import plot

        plot(report, args.plot)
    data = report.to_dict() | ({"compare": [r.__dict__ for r in rows]} if rows else {})
    if getattr(args, "output", None):
        with open(args.output, "w") as f:
            json.dump(data, f, indent=1, default=str)
    if args.json:
        print(json.dumps(data, indent=1, default=str))
        return
    _tables(report, rows)
    if getattr(args, "plot", None):
        print(f"plot written to {args.plot}", file=sys.stderr)


def _tables(report: EvalReport, rows: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = f"{report.model_id} · {report.benchmark} · {report.task}"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report.metrics.items():
        table.add_row(name, f"{value:.2f}")
    console.print(table)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items() if v)
    console.print(f"[dim]{counts}[/dim]")
    settings = {k: v for k, v in report.settings.items() if k != "template_list"}
    console.print(f"[dim]settings: {settings}[/dim]")
    console.print(f"[dim]data checksum {report.provenance.get('data_checksum')}[/dim]")
    if rows:
        cmp = Table(title=f"{report.benchmark}: measured here vs published (not measured)")
        for col in ("model", "metric", "value", "kind", "source"):
            cmp.add_column(col, overflow="fold", justify="right" if col == "value" else "left")
        for r in rows:
            style = "bold green" if r.kind == "measured" else None
            source = r.source + (f" ({r.note})" if r.note else "")
            cmp.add_row(r.model, r.metric, f"{r.value:.2f}", r.kind, source, style=style)
        console.print(cmp)
    for w in report.warnings:
        print(f"openbind: warning: {w}", file=sys.stderr)


def run_layouts(args: argparse.Namespace) -> int:
    from openbind.eval.layouts import LAYOUTS

    width = max(len(n) for n in LAYOUTS)
    for name, layout in LAYOUTS.items():
        print(f"{name:<{width}}  {', '.join(layout.tasks):<34}  {layout.description}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    import json

    from openbind.eval.starter_bench import markdown, run_starter_bench

    result = run_starter_bench(args.model, root=args.root, progress=not args.json)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1, default=str)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        print(markdown(result) if args.markdown else markdown(result, plain=True))
    return 0
