"""User tags from a sidecar file: `path -> {tag: value}`, stored in each item's `extra["tags"]`.

Two formats, chosen by the file's extension:

* CSV (`.csv`, `.tsv`): a header row with a `path` column; every other column is a tag.
      path,place,year
      holiday/beach.jpg,beach,2023
* JSON (`.json`): `{"holiday/beach.jpg": {"place": "beach", "year": 2023}, ...}` or a list of
  objects that each have a `path`.

Relative paths are taken relative to the sidecar's folder. Values are stored as strings, so
filters compare them as text (`tag.year=2023`). Empty CSV cells are left out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openbind.errors import BadInput

Tags = dict[str, dict[str, str]]
"""Absolute, resolved path -> tag name -> value."""


def read_tags(path: str | Path) -> Tags:
    """The tags of a sidecar file, by absolute resolved path.

    Raises:
        BadInput: the file is missing, unreadable, not CSV/JSON, or has no `path` column/field.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read the tags file: {e}", source=str(path)) from None
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        rows = _csv_rows(text, "\t" if suffix == ".tsv" else ",", path)
    elif suffix == ".json":
        rows = _json_rows(text, path)
    else:
        raise BadInput("a tags file is .csv, .tsv or .json", source=str(path))
    base = path.resolve().parent
    out: Tags = {}
    for name, tags in rows:
        target = Path(name).expanduser()
        target = (target if target.is_absolute() else base / target).resolve()
        out[str(target)] = {str(k): str(v) for k, v in tags.items() if v not in (None, "")}
    return out


def _csv_rows(text: str, delimiter: str, path: Path) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    if reader.fieldnames is None or "path" not in reader.fieldnames:
        raise BadInput("the tags file needs a 'path' column in its header", source=str(path))
    return [(row.pop("path"), row) for row in reader if row.get("path")]


def _json_rows(text: str, path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"not JSON: {e}", source=str(path)) from None
    if isinstance(data, Mapping):
        items = list(data.items())
    elif isinstance(data, list) and all(isinstance(d, Mapping) and "path" in d for d in data):
        items = [(d["path"], {k: v for k, v in d.items() if k != "path"}) for d in data]
    else:
        raise BadInput(
            "a JSON tags file is {path: {tag: value}} or a list of objects with a 'path'",
            source=str(path),
        )
    for name, tags in items:
        if not isinstance(tags, Mapping):
            raise BadInput(f"the tags of {name!r} are not an object", source=str(path))
    return [(str(k), dict(v)) for k, v in items]
