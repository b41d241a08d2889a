"""`openbind models`: the registered model cards, their modalities and licences, and what is cached.

`openbind models` lists the cards (a table, or `--json` with every card field); `openbind models
NAME` with an exact name or alias prints that card in full, preprocessing settings included.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from openbind import registry
from openbind.cards import ModelCard, source_to_dict
from openbind.errors import UnknownModel

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
        aliases: the short names that resolve to it.
        family: the family (first part of the name).
        download_exact: whether `download_bytes` is exact (else an estimate).
        source: the weight source (`kind`, files with url, sha256 and size, ...).
        builder: "module:function" that builds it.
        arch: the family's architecture preset.
        preprocess: per modality, the transform, its config class and the stored settings.
    """

    name: str
    modalities: tuple[str, ...]
    dim: int
    license: str
    cached: str
    cached_bytes: int
    download_bytes: int
    description: str
    aliases: tuple[str, ...] = ()
    family: str = ""
    download_exact: bool = True
    source: dict[str, Any] = field(default_factory=dict)
    builder: str = ""
    arch: str = ""
    preprocess: dict[str, dict[str, Any]] = field(default_factory=dict)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list model cards and which weights are cached",
        description="List the registered models (name, aliases, modalities, dimension, licence, "
        "download size) and whether their weights are in the cache ($OPENBIND_HOME or "
        "~/.cache/openbind). An exact name or alias prints that model's card in full.",
    )
    parser.add_argument(
        "pattern",
        nargs="?",
        default="*",
        metavar="PATTERN",
        help="glob on model names, a plain word matched anywhere in the name, or an exact name "
        "or alias (prints its card)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = model_rows(args.pattern)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    elif _exact(args.pattern):
        card = registry.get(args.pattern)
        print_card(card, next(r for r in model_rows(card.name) if r.name == card.name))
    else:
        _print_table(rows)
    return 0


def _exact(pattern: str) -> bool:
    """Whether `pattern` is a card's full name or an alias (not a glob or a word)."""
    if _GLOB & set(pattern):
        return False
    try:
        registry.get(pattern)
    except UnknownModel:
        return False
    return True


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


def _row(entry: ModelCard, cached: CachedModel | None) -> ModelRow:
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
        download_bytes=entry.download_size,
        description=entry.description,
        aliases=registry.aliases_of(entry.name),
        family=entry.family,
        download_exact=entry.size_is_exact,
        source=source_to_dict(entry.weights),
        builder=entry.builder,
        arch=entry.arch,
        preprocess={
            m: {"transform": p.transform, "config": p.config, "settings": dict(p.settings)}
            for m, p in entry.preprocess.items()
        },
    )


def _print_table(rows: list[ModelRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    from openbind import hub

    table = Table(title=f"models (cache: {hub.cache_dir()})", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("aliases")
    table.add_column("modalities")
    table.add_column("dim", justify="right")
    table.add_column("licence")
    table.add_column("cached")
    table.add_column("size", justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            r.name,
            ", ".join(r.aliases),
            ", ".join(r.modalities),
            str(r.dim),
            r.license,
            r.cached,
            _size(r),
        )
    Console().print(table)


def _size(row: ModelRow) -> str:
    """Bytes cached, and of how much when the download is incomplete: "1.50 kB of 3.00 kB"."""
    have = human_bytes(row.cached_bytes) if row.cached_bytes else ""
    if not row.download_bytes or row.cached == "yes":
        return have
    total = ("" if row.download_exact else "~") + human_bytes(row.download_bytes)
    return f"{have} of {total}" if have else total


def print_card(card: ModelCard, row: ModelRow) -> None:
    """Print `card` in full: names, weights (source, files, sizes, checksums), cache status, and
    the typed preprocessing settings of every modality."""
    from openbind import hub

    lines = [
        card.name,
        f"  aliases      {', '.join(row.aliases) or '-'}",
        f"  family       {card.family}",
        f"  modalities   {', '.join(card.modalities)}",
        f"  dim          {card.dim}",
        f"  licence      {card.license or '-'}",
        f"  description  {card.description or '-'}",
        f"  builder      {card.builder}" + (f" (arch {card.arch})" if card.arch else ""),
        f"  weights      {card.describe_source()}",
    ]
    for wf in card.weights:
        size = human_bytes(wf.download_size) if wf.download_size else "size unknown"
        exact = "" if wf.size or not wf.download_size else "~"
        lines.append(f"    {wf.filename}  {exact}{size}  sha256 {wf.sha256 or 'not published'}")
    where = "" if row.cached == "packaged" else f"  ({hub.model_dir(card.name)})"
    lines.append(f"  cached       {row.cached}{where}")
    lines.append("  preprocessing")
    for m in card.modalities:
        lines.append(f"    {m:<9}  {_preprocessing(card, m)}")
    print("\n".join(lines))


def _preprocessing(card: ModelCard, modality: str) -> str:
    """The typed config of `modality`'s preprocessing, with every setting (defaults included)."""
    spec = card.preprocess.get(modality)
    if spec is None:
        return "set by the family or stored with the tower's weights"
    from openbind.space.build import preprocess_config

    config = preprocess_config(spec)
    return repr(config) if config is not None else spec.transform


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
