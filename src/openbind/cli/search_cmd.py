"""`openbind search`: any-to-any search of a library with a text, file, vector or composed query.

Fast on purpose: nothing heavy is imported before it is needed. The library (numpy + faiss) is
opened first, every argument is checked (files exist, the space has the modalities asked for,
the vector has the right length) before the model loads, and only the towers of the query's
modalities are loaded. A `--vector` query loads no model at all, and `--server URL` sends the
query to a running `openbind serve` instead of loading anything.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openbind.cli.embed_cmd import add_load_options, emit_json, load_space, speed_options

if TYPE_CHECKING:
    from openbind.types import Embeddings, Modality

SERVER_ENV = "OPENBIND_SERVER"
FILE_MODALITIES = ("image", "video", "audio", "depth", "thermal", "imu")

EXAMPLES = """
examples:
  openbind search media "a dog barking"
  openbind search media --image beach.jpg -k 5 --modality audio     # sounds for a picture
  openbind search media --file clip.bin                              # modality from its content
  openbind search media "at night" --image street.jpg --weight 0.3,0.7
  openbind search media "a cat" --filter "path=holiday/*" --filter "size<5000000" --offset 10
  openbind search media --vector query.npy --filter tag.place=beach
  openbind search media "a cat" --server http://127.0.0.1:8000       # ask a running server
  openbind search ./clips.lib --audio rain.wav --json

Filters (repeat --filter; all must hold): modality=image,video  path=PREFIX or path=GLOB
(relative to the indexed folders)  mtime>=2024-01-01  size<1000000  tag.NAME=VALUE (tags from
the sidecar file given to `index build --tags`).

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
        "--file", action=_AddPart, metavar="FILE", help="a file whose modality is detected"
    )
    parser.add_argument(
        "--vector", metavar="FILE.npy", help="a raw query vector (.npy of shape (D,) or (1, D))"
    )
    parser.add_argument(
        "--weight", metavar="W1,W2,..", help="weights of the query parts (text first, vector last)"
    )
    parser.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many best results")
    parser.add_argument(
        "--filter", action="append", metavar="EXPR", help="only items meeting EXPR (repeatable)"
    )
    add_load_options(parser)
    parser.add_argument("--modality", metavar="MODALITY", help="only return items of this modality")
    parser.add_argument(
        "--server",
        metavar="URL",
        default=os.environ.get(SERVER_ENV) or None,
        help=f"query a running `openbind serve` instead of loading (default: ${SERVER_ENV})",
    )
    parser.add_argument(
        "--api-key", metavar="KEY", help="the server's API key (default: $OPENBIND_API_KEY)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run, parts=None)


def run(args: argparse.Namespace) -> int:
    from openbind.errors import BadInput
    from openbind.index import Filter

    parts = query_parts(args)
    vector = _read_vector(args.vector) if args.vector else None
    if not parts and vector is None:
        raise BadInput("give a text query, a file (--image, --audio, --file, ...) or --vector")
    weights = parse_weights(args.weight, len(parts) + (vector is not None))
    if args.k < 1:
        raise BadInput(f"-k must be >= 1, got {args.k}")
    if args.offset < 0:
        raise BadInput(f"--offset must be >= 0, got {args.offset}")
    where = Filter.parse(args.filter or [])
    if args.server:
        from openbind.cli.remote import remote_search

        result = remote_search(args.server, args, parts, weights, vector, where)
    else:
        result = _local_search(args, parts, weights, vector, where)
    if args.json:
        emit_json(result)
    else:
        title = " + ".join(
            [_describe(m, v) for m, v in parts] + (["vector"] if vector is not None else [])
        )
        print_hits(result["hits"], title=title, total=result.get("total"), offset=args.offset)
    return 0


def query_parts(args: argparse.Namespace) -> list[tuple[Modality, Any]]:
    """The text and files of the query in command-line order, each file's modality checked.

    A file given as `--file` takes the modality its content shows; one given as `--image`,
    `--audio`, ... whose content is of another modality is refused with both named.
    """
    from openbind.errors import BadInput
    from openbind.pipeline.detect import detect_file
    from openbind.types import Modality

    parts: list[tuple[Modality, Any]] = []
    if args.text is not None:
        parts.append((Modality.TEXT, args.text))
    for name, value in args.parts or []:
        path = Path(value)
        if not path.is_file():
            raise BadInput("no such file", source=value)
        found = detect_file(path)
        if name == "file":
            if found.modality is None:
                raise BadInput("cannot tell its modality; use --image, --audio, ...", source=value)
            parts.append((found.modality, path))
            continue
        said = Modality.parse(name)
        if (
            found.format is not None
            and found.modality not in (said, None)
            and not (said is Modality.THERMAL and found.modality is Modality.IMAGE)
        ):
            raise BadInput(
                f"is {found.format} ({found.modality.value}), not {said.value}; "
                f"use --{found.modality.value} or --file",
                source=value,
            )
        parts.append((said, path))
    return parts


def _local_search(
    args: argparse.Namespace,
    parts: list[tuple[Modality, Any]],
    weights: list[float],
    vector: Any,
    where: Any,
) -> dict[str, Any]:
    from openbind.index import Library, resolve_library

    lib = Library.open(resolve_library(args.library))
    try:
        if vector is not None and vector.shape[-1] != lib.dim:
            from openbind.errors import BadInput

            raise BadInput(
                f"has {vector.shape[-1]} numbers; library {lib.path.name} holds {lib.dim}-d vectors",
                source=args.vector,
            )
        check_modalities(lib.model_id, [m for m, _ in parts])
        query = vector / max(float((vector**2).sum()) ** 0.5, 1e-12) if vector is not None else None
        fast = _fast_text(args, lib.model_id, parts)
        if fast is not None:
            query = _compose_numpy([fast.encode([parts[0][1]]), query], weights)
        elif parts:
            space = load_space(
                lib.model_id,
                [m for m, _ in parts],
                args.weights,
                args.fast_images,
                **speed_options(args),
            )
            query = compose_query(space, parts, weights, query)
            cache_text_tower(space, [m for m, _ in parts], plain=plain_load(args))
        modality = args.modality or None
        hits = lib.search(query, k=args.k, offset=args.offset, modality=modality, filter=where)
        total = lib.count(modality=modality, filter=where)
    finally:
        lib.close()
    return {
        "library": str(lib.path),
        "model_id": lib.model_id,
        "query": [
            {"modality": m.value, "value": str(v), "weight": w}
            for (m, v), w in zip(parts, weights, strict=False)
        ]
        + (
            [{"modality": "vector", "value": args.vector, "weight": weights[-1]}]
            if vector is not None
            else []
        ),
        "total": total,
        "offset": args.offset,
        "hits": [h.to_dict() for h in hits],
    }


def cache_text_tower(space: Any, modalities: list[Modality], *, plain: bool) -> None:
    """Cache the space's MiniLM text tower as ONNX if it is loaded as packaged (`plain`) and
    not cached yet, so that later text queries need no torch (`openbind.encoders.minilm_onnx`)."""
    if not plain or not any(m.value == "text" for m in modalities):
        return
    tower = getattr(space, "tower", None)
    if tower is not None:
        from openbind.encoders.minilm_onnx import ensure_text_onnx

        ensure_text_onnx(space.model_id, tower("text"))


def plain_load(args: argparse.Namespace) -> bool:
    """Whether the model is loaded as packaged: no --weights, float32, no int8 or prepacking."""
    speed = speed_options(args)
    return (
        not args.weights
        and speed["dtype"] == "float32"
        and not speed["int8"]
        and not speed["prepack"]
    )


def _fast_text(args: argparse.Namespace, model_id: str, parts: list[tuple[Modality, Any]]) -> Any:
    """The torch-free text path (`openbind.encoders.minilm_onnx.TextQuery`) when the query is
    one text (and perhaps a vector), the model is loaded as packaged and its ONNX file is
    cached; else None."""
    if len(parts) != 1 or parts[0][0].value != "text" or not plain_load(args):
        return None
    from openbind.encoders.minilm_onnx import TextQuery

    return TextQuery.for_model(model_id, threads=getattr(args, "threads", None) or 0)


def _compose_numpy(rows: list[Any], weights: list[float]) -> Any:
    """`openbind.tasks.compose` for (1, D) numpy rows (None entries are skipped): the normalised
    weighted sum."""
    import numpy as np

    from openbind.errors import BadInput

    total = sum(w * r for w, r in zip(weights, [r for r in rows if r is not None], strict=True))
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise BadInput("the weighted sum is zero; the parts cancel out")
    return (total / norm).astype(np.float32)


def check_modalities(model: str, modalities: list[Modality]) -> None:
    """Refuse, before anything loads, a query modality the space has no tower for.

    Raises:
        MissingModality: naming the modality and the ones the space has.
    """
    from openbind import registry
    from openbind.errors import MissingModality

    if not modalities:  # a --vector query: any library, even of an unregistered space
        return
    have = registry.get(model).modalities
    for m in modalities:
        if m.value not in have:
            raise MissingModality(f"{model} cannot embed {m.value}; it embeds: {', '.join(have)}")


def _read_vector(path: str) -> Any:
    import numpy as np

    from openbind.errors import BadInput

    try:
        v = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read a vector from it: {e}", source=path) from None
    v = np.asarray(v, dtype=np.float32)
    if v.ndim == 2 and v.shape[0] == 1:
        v = v[0]
    if v.ndim != 1 or v.size == 0:
        raise BadInput(f"must hold one vector of shape (D,) or (1, D), got {v.shape}", source=path)
    if not np.isfinite(v).all():
        raise BadInput("contains NaN or infinite values", source=path)
    if not v.any():
        raise BadInput("is all zeros", source=path)
    return v


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
    space: Any, parts: list[tuple[Modality, Any]], weights: list[float], vector: Any = None
) -> Embeddings:
    """One normalised query vector from the parts and an optional unit `vector` (weighted last)."""
    import torch

    from openbind.tasks import compose
    from openbind.types import Embeddings

    embedded = [space.encode(m, [value]) for m, value in parts]
    if vector is not None:
        row = torch.from_numpy(vector.reshape(1, -1))
        embedded.append(Embeddings(row, parts[0][0], space.model_id))
    return compose(embedded, weights)


def print_hits(
    hits: list[dict[str, Any]], *, title: str, total: int | None = None, offset: int = 0
) -> None:
    """Hits (as `Hit.to_dict()` gives them) as a table, ranked from `offset` + 1."""
    from rich.console import Console
    from rich.table import Table

    caption = None
    if total is not None:
        caption = f"{offset + 1}-{offset + len(hits)} of {total} matching" if hits else "no hits"
    table = Table(title=title, caption=caption)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("modality")
    table.add_column("path", overflow="fold")
    for rank, h in enumerate(hits, offset + 1):
        table.add_row(str(rank), f"{h['score']:.3f}", h["modality"], h["path"])
    Console().print(table)


def _describe(m: Modality, value: Any) -> str:
    return f'"{value}"' if m.value == "text" else f"{m.value}:{Path(value).name}"
