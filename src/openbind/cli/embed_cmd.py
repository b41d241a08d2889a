"""`openbind embed`: embed a folder tree or files into a Parquet file, incrementally.

Also holds the helpers the other data commands share: loading a space with only the towers a
run needs, and printing a run summary as a table or JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openbind.pipeline import RunSummary
    from openbind.space.protocol import Space
    from openbind.types import Modality

EXAMPLES = """
examples:
  openbind embed photos/ -o photos.parquet
  openbind embed a.jpg b.wav notes.txt -o few.parquet --model imagebind_huge
  openbind embed scans/ -o thermal.parquet --as thermal
  openbind embed photos/ -o photos.parquet --json      # summary for programs

Run it again with the same -o and only new or changed files are embedded; rows of deleted
files are dropped. Files are recognised by extension and content (see docs/library.md);
unsupported or corrupt files are listed at the end and never stop the run.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "embed",
        help="embed files of any modality into a Parquet file",
        description="Embed every supported file under the given folders and files into one "
        "Parquet file (path, modality, content_hash, size, mtime, embedding).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs", nargs="+", metavar="PATH", help="folders (walked recursively) and files"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="Parquet file to create or update"
    )
    add_model_options(parser)
    parser.set_defaults(run=run)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --weights, --fast-images, --as, --batch-size, --json, --no-progress."""
    parser.add_argument("--model", default="starter", help="space to embed with (default: starter)")
    add_load_options(parser)
    parser.add_argument(
        "--as",
        dest="force",
        metavar="MODALITY",
        help="embed every file as this modality instead of detecting it (e.g. thermal)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, metavar="N", help="items per forward pass"
    )
    add_ray_options(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """--ray [ADDRESS] and --ray-actors: embed on a Ray cluster instead of in this process."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="embed with a pool of Ray actors: on a cluster at ADDRESS (ray://host:10001, "
        "auto), or a local Ray instance without one (extra 'ray')",
    )
    parser.add_argument(
        "--ray-actors", type=int, default=2, metavar="N", help="Ray actors (default 2)"
    )


def make_runner(args: argparse.Namespace, model: str, modalities: Iterable[Modality]) -> Any:
    """A Ray runner when `--ray` was given (the model loads in the actors only), else a local
    runner over `load_space(model, modalities)`."""
    from openbind.pipeline import LocalRunner

    if getattr(args, "ray", None) is None:
        space = load_space(model, modalities, args.weights, args.fast_images, **speed_options(args))
        return LocalRunner(space, batch_size=args.batch_size)
    from openbind.errors import require
    from openbind.pipeline import RayRunner

    ray = require("ray", "ray")
    if not ray.is_initialized():
        ray.init(address=None if args.ray == "local" else args.ray, log_to_driver=False)
    return RayRunner.for_model(model, actors=args.ray_actors, batch_size=args.batch_size or 16)


def add_load_options(
    parser: argparse.ArgumentParser,
    threads_help: str = "torch threads for the model (default: torch's)",
) -> None:
    """--weights (a local weights file or folder), --fast-images and the speed options."""
    parser.add_argument(
        "--weights",
        metavar="PATH",
        help="local weights file or converted folder (instead of the cache or a download)",
    )
    parser.add_argument(
        "--fast-images",
        action="store_true",
        help="decode JPEGs at reduced size and resize with torch: 3-4x faster on photos, "
        "embeddings within about 1e-5 cosine of the exact reference preprocessing",
    )
    parser.add_argument("--threads", type=int, metavar="N", help=threads_help)
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="model precision; 16-bit only where the hardware has it natively, else float32 "
        "with a warning (default: float32)",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="int8 linear layers in the transformer blocks (x86 CPU): faster, embeddings "
        "within about 0.99 cosine",
    )
    parser.add_argument(
        "--prepack",
        action="store_true",
        help="swap the transformer linears for packed oneDNN layers and drop the plain "
        "weights (CPU, inference only); packed weights are used by default already, this "
        "only saves memory for weights that are not memory-mapped",
    )


def speed_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `openbind.load` keywords of --threads, --dtype, --int8 and --prepack."""
    return {
        "threads": getattr(args, "threads", None),
        "dtype": getattr(args, "dtype", None) or "float32",
        "int8": getattr(args, "int8", False),
        "prepack": getattr(args, "prepack", False),
    }


def run(args: argparse.Namespace) -> int:
    from openbind.pipeline import embed_to_parquet

    runner = make_runner(args, args.model, needed_modalities(args.inputs, args.force))
    summary = embed_to_parquet(
        runner, args.inputs, args.output, force=args.force, progress=progress(args)
    )
    print_summary(summary, args.json, target=args.output)
    return 0


def needed_modalities(inputs: Sequence[str], force: str | None) -> list[Modality]:
    """The modalities of the files under `inputs` (what towers a run needs)."""
    from openbind.pipeline import scan
    from openbind.types import Modality

    if force is not None:
        return [Modality.parse(force)]
    return sorted(
        {e.modality for e in scan(inputs) if e.modality is not None}, key=list(Modality).index
    )


def load_space(
    model: str,
    modalities: Iterable[Modality],
    weights: str | None = None,
    fast_images: bool = False,
    **speed: Any,
) -> Space:
    """`openbind.load(model)` with only those of `modalities` the model has (all if none).

    `speed` are `openbind.load`'s `dtype`, `int8`, `threads` and `prepack` (`speed_options`).
    """
    import openbind
    from openbind import registry

    have = set(registry.get(model).modalities)
    wanted = [m for m in modalities if m.value in have]
    images = "image" in have and (not wanted or any(m.value == "image" for m in wanted))
    preprocess = {"image": {"fast": True}} if fast_images and images else None
    return openbind.load(
        model, modalities=wanted or None, weights=weights, preprocess=preprocess, **speed
    )


def progress(args: argparse.Namespace) -> bool | None:
    return False if args.no_progress or args.json else None


def print_summary(summary: RunSummary, as_json: bool, *, target: str) -> None:
    """The counts of a run, then the skipped files with their reasons."""
    if as_json:
        print(json.dumps({"output": str(target), **summary.to_dict()}, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{target}", show_header=True)
    for col in ("embedded", "reused", "unchanged", "removed", "skipped", "total", "files/s"):
        table.add_column(col, justify="right")
    table.add_row(
        *(str(x) for x in (summary.embedded, summary.reused, summary.unchanged, summary.removed)),
        str(len(summary.skipped)),
        str(summary.total),
        f"{summary.files_per_second:.1f}",
    )
    console.print(table)
    for w in summary.warnings[:50]:
        print(f"openbind: warning: {w.path}: {w.reason}", file=sys.stderr)
    if summary.skipped:
        skipped = Table(title="skipped files", show_header=True)
        skipped.add_column("file", overflow="fold")
        skipped.add_column("reason")
        for s in summary.skipped[:50]:
            skipped.add_row(s.path, s.reason)
        console.print(skipped)
        if len(summary.skipped) > 50:
            print(f"... and {len(summary.skipped) - 50} more (use --json for all)", file=sys.stderr)


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=1))
