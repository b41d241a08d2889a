"""`openbind models`: the registered models, their modalities and licences, and what is cached."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from openbind import registry

if TYPE_CHECKING:
    from openbind.hub import CachedModel

_GLOB = set("*?[")


@dataclass(frozen=True)
class ModelRow:
    """One line of the listing.

    Attributes:
        name: registry name.
        modalities: what the model embeds.
        dim: dimension of the space.
        license: licence of the weights.
        cached: "yes", "partial" (some files or an unfinished download), "no", or "packaged"
            (weights ship with installed Python packages; nothing to download).
        cached_bytes: bytes in the model's cache folder.
        download_bytes: total size of the model's weight files (0 if unknown or none).
        description: one line about the model.
    """

    name: str
    modalities: tuple[str, ...]
    dim: int
    license: str
    cached: str
    cached_bytes: int
    download_bytes: int
    description: str


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list models and which weights are cached",
        description="List the registered models (name, modalities, dimension, licence) and "
        "whether their weights are in the cache ($OPENBIND_HOME or ~/.cache/openbind).",
    )
    parser.add_argument(
        "pattern",
        nargs="?",
        default="*",
        metavar="PATTERN",
        help="glob on model names, or a plain word matched anywhere in the name",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = model_rows(args.pattern)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        _print_table(rows)
    return 0


def model_rows(pattern: str = "*") -> list[ModelRow]:
    """The listing for `pattern`.

    Raises:
        UnknownModel: nothing matches; the message suggests close names.
    """
    from openbind import hub

    glob = pattern if _GLOB & set(pattern) else f"*{pattern}*"
    entries = registry.list_models(glob)
    if not entries:
        entries = [registry.get(pattern)]  # an alias, or UnknownModel with close names
    cache = {m.name: m for m in hub.cached_models()}
    return [_row(e, cache.get(e.name)) for e in entries]


def _row(entry: registry.ModelEntry, cached: CachedModel | None) -> ModelRow:
    if not entry.weights:
        status = "packaged"
    elif cached is not None and all(cached.has(w.filename) for w in entry.weights):
        status = "yes"
    elif cached is not None and cached.files:
        status = "partial"
    else:
        status = "no"
    return ModelRow(
        name=entry.name,
        modalities=entry.modalities,
        dim=entry.dim,
        license=entry.license,
        cached=status,
        cached_bytes=cached.size if cached else 0,
        download_bytes=sum(w.size for w in entry.weights),
        description=entry.description,
    )


def _print_table(rows: list[ModelRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    from openbind import hub

    table = Table(title=f"models (cache: {hub.cache_dir()})", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("modalities")
    table.add_column("dim", justify="right")
    table.add_column("licence")
    table.add_column("cached")
    table.add_column("size", justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r.name, ", ".join(r.modalities), str(r.dim), r.license, r.cached, _size(r))
    Console().print(table)


def _size(row: ModelRow) -> str:
    """Bytes cached, and of how much when the download is incomplete: "1.50 kB of 3.00 kB"."""
    have = human_bytes(row.cached_bytes) if row.cached_bytes else ""
    if not row.download_bytes or row.cached == "yes":
        return have
    total = human_bytes(row.download_bytes)
    return f"{have} of {total}" if have else total


def human_bytes(n: int) -> str:
    """`n` bytes as "512 B", "1.50 kB", "4.80 GB", "12.3 GB" (powers of 1000, like the sizes on download pages)."""
    if n < 1000:
        return f"{n} B"
    size, unit = n / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size:.{2 if size < 10 else 1}f} {unit}"
