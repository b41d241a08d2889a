"""Helpers the layout adapters share: finding files, reading CSV/JSON with named columns."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openbind.errors import BadInput
from openbind.pipeline.detect import EXTENSIONS
from openbind.types import Modality

AUDIO_EXTS = tuple(e for e, m in EXTENSIONS.items() if m is Modality.AUDIO)
VIDEO_EXTS = tuple(e for e, m in EXTENSIONS.items() if m is Modality.VIDEO)
IMAGE_EXTS = tuple(e for e, m in EXTENSIONS.items() if m is Modality.IMAGE)
DEPTH_EXTS = (*IMAGE_EXTS, ".npy", ".npz")
SPLIT_NAMES = ("train", "val", "validation", "test", "eval", "evaluation")


def need(path: Path, what: str) -> Path:
    """`path` if it exists, else a `BadInput` naming it and what it should hold."""
    if not path.exists():
        raise BadInput(f"missing {what} (expected at {path})", source=path)
    return path


def first_existing(root: Path, names: Sequence[str], what: str) -> Path:
    """The first of `root/name` that exists; else a `BadInput` naming the first candidate."""
    for name in names:
        if (root / name).exists():
            return root / name
    tried = ", ".join(names)
    raise BadInput(f"missing {what}: none of {tried} under {root}", source=root / names[0])


def read_csv(path: Path, columns: Iterable[str]) -> list[dict[str, str]]:
    """Rows of a CSV file with a header holding `columns`.

    Raises:
        BadInput: unreadable file, missing columns, or a row with empty required fields (the
            message names the file and the line).
    """
    need(path, "annotation file")
    wanted = list(columns)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            lost = [c for c in wanted if c not in header]
            if lost:
                raise BadInput(
                    f"malformed: no column(s) {lost} in the header {header}", source=path
                )
            rows = []
            for line, raw in enumerate(reader, start=2):
                row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
                empty = [c for c in wanted if not row.get(c)]
                if empty:
                    raise BadInput(f"malformed line {line}: empty {empty}", source=path)
                rows.append(row)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BadInput(f"malformed: cannot read it as CSV ({e})", source=path) from e
    if not rows:
        raise BadInput("malformed: no rows", source=path)
    return rows


def read_json(path: Path) -> Any:
    """The parsed JSON file; a `BadInput` naming it if it is missing or not JSON."""
    need(path, "annotation file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"malformed: not JSON ({e})", source=path) from e


def field(obj: Any, key: str, path: Path, where: str) -> Any:
    """`obj[key]`, or a `BadInput` naming the file and the place that lacks it."""
    if not isinstance(obj, dict) or key not in obj:
        raise BadInput(f"malformed: {where} has no {key!r}", source=path)
    return obj[key]


def index_files(root: Path, exts: Sequence[str]) -> dict[str, Path]:
    """Files under `root` with one of `exts`, by stem and by name (first one wins, sorted)."""
    out: dict[str, Path] = {}
    if not root.is_dir():
        return out
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in exts and p.is_file():
            out.setdefault(p.name, p)
            out.setdefault(p.stem, p)
    return out


def published_class_names(benchmark: str) -> list[str]:
    """The class names of a benchmark's published protocol (`eval/classnames.json`), or []."""
    table = json.loads((Path(__file__).parents[1] / "classnames.json").read_text())
    return list(table.get(benchmark, []))


def class_name(folder: str) -> str:
    """A folder or category name as a prompt word: "chirping_birds" -> "chirping birds"."""
    return folder.replace("_", " ").strip()


def rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
