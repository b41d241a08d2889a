"""`openbind search`: any-to-any search of a library with a text, file or composed query."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openbind.cli.embed_cmd import add_load_options, emit_json, load_space, speed_options

if TYPE_CHECKING:
    from openbind.index import Hit
    from openbind.types import Embeddings, Modality

FILE_MODALITIES = ("image", "video", "audio", "depth", "thermal", "imu")

EXAMPLES = """
examples:
  openbind search media "a dog barking"
  openbind search media --image beach.jpg -k 5 --modality audio     # sounds for a picture
  openbind search media "at night" --image street.jpg --weight 0.3,0.7
  openbind search ./clips.lib --audio rain.wav --json

A query is the text and/or files given; several parts are combined into one vector as the
normalised weighted sum of their embeddings (ImageBind-style embedding arithmetic). --weight
lists one weight per part: the text first, then the files in the order given (default: equal).
Scores are cosine similarities.
"""


class _AddPart(argparse.Action):
    """Append (modality, value) to `parts`, keeping the command-line order."""

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None
    ) -> None:
        parts = list(getattr(namespace, "parts", None) or [])
        parts.append((self.dest, values))
        namespace.parts = parts


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="search a library with text, files, or a mix of both",
        description="Find the items of a library closest to a query of any modality.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("library", metavar="LIBRARY", help="library name or folder")
    parser.add_argument("text", nargs="?", metavar="TEXT", help="a text query")
    for m in FILE_MODALITIES:
        parser.add_argument(
            f"--{m}", action=_AddPart, metavar="FILE", help=f"{m} file as (part of) the query"
        )
    parser.add_argument(
        "--weight", metavar="W1,W2,..", help="weights of the query parts (text first)"
    )
    parser.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    add_load_options(parser)
    parser.add_argument("--modality", metavar="MODALITY", help="only return items of this modality")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run, parts=None)


def run(args: argparse.Namespace) -> int:
    from openbind.errors import BadInput
    from openbind.index import Library, resolve_library
    from openbind.types import Modality

    parts: list[tuple[Modality, Any]] = []
    if args.text is not None:
        parts.append((Modality.TEXT, args.text))
    for name, value in args.parts or []:
        path = Path(value)
        if not path.is_file():
            raise BadInput("no such file", source=value)
        parts.append((Modality.parse(name), path))
    if not parts:
        raise BadInput("give a text query and/or a file (--image, --audio, ...)")
    weights = parse_weights(args.weight, len(parts))
    if args.k < 1:
        raise BadInput(f"-k must be >= 1, got {args.k}")
    modality = Modality.parse(args.modality) if args.modality else None

    lib = Library.open(resolve_library(args.library))
    try:
        space = load_space(
            lib.model_id,
            [m for m, _ in parts],
            args.weights,
            args.fast_images,
            **speed_options(args),
        )
        query = compose_query(space, parts, weights)
        hits = lib.search(query, k=args.k, modality=modality)
    finally:
        lib.close()
    if args.json:
        emit_json(
            {
                "library": str(lib.path),
                "model_id": lib.model_id,
                "query": [
                    {"modality": m.value, "value": str(v), "weight": w}
                    for (m, v), w in zip(parts, weights, strict=True)
                ],
                "hits": [h.to_dict() for h in hits],
            }
        )
    else:
        print_hits(hits, title=" + ".join(_describe(m, v) for m, v in parts))
    return 0


def parse_weights(text: str | None, n: int) -> list[float]:
    """`--weight` as floats, one per query part (all 1.0 if not given)."""
    from openbind.errors import BadInput

    if text is None:
        return [1.0] * n
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise BadInput(f"--weight must be numbers separated by commas, got {text!r}") from None
    if len(weights) != n:
        raise BadInput(f"--weight has {len(weights)} values for {n} query parts")
    return weights


def compose_query(
    space: Any, parts: list[tuple[Modality, Any]], weights: list[float]
) -> Embeddings:
    """One normalised query vector from the parts (`openbind.tasks.compose`)."""
    from openbind.tasks import compose

    embedded = [space.encode(m, [value]) for m, value in parts]
    return compose(embedded, weights)


def print_hits(hits: list[Hit], *, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("modality")
    table.add_column("path", overflow="fold")
    for rank, h in enumerate(hits, 1):
        table.add_row(str(rank), f"{h.score:.3f}", h.modality.value, h.path)
    Console().print(table)


def _describe(m: Modality, value: Any) -> str:
    return f'"{value}"' if m.value == "text" else f"{m.value}:{Path(value).name}"
