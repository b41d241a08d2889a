"""Search filters over a library's item metadata: modality, path, modification time, size, tags.

A `Filter` is built from a mapping (JSON bodies, Python) or from `FIELD OP VALUE` expressions
(the CLI's `--filter`, `GET /search?filter=`), and turns into one SQL condition on the `items`
table. Every field is optional; the conditions of the fields given must all hold.

    >>> Filter.parse({"modality": "image", "path_glob": "*.jpg", "tags": {"place": "beach"}})
    >>> Filter.parse(["modality=image,video", "mtime>=2024-01-01", "size<1000000", "tag.place=beach"])

Paths: `path_prefix` and `path_glob` match the stored path; a relative one is taken relative to
any of the library's roots (`path_glob="holiday/*.jpg"`). Globs use SQLite's GLOB (`*` also
crosses folders). Times are seconds since the epoch or ISO 8601 dates (UTC unless they say).
Tags are the user's own key/value labels, read at build time from a sidecar file
(`openbind.index.tags`) and stored in the item's `extra["tags"]`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from openbind.errors import BadInput
from openbind.types import Modality

FIELDS = (
    "modality",
    "path_prefix",
    "path_glob",
    "mtime_min",
    "mtime_max",
    "size_min",
    "size_max",
    "tags",
)
"""The keys a filter mapping may have."""

_EXPR = re.compile(r"^\s*(?P<field>[A-Za-z_][\w.-]*)\s*(?P<op>>=|<=|!=|=|>|<)\s*(?P<value>.*)$")
_TAG_KEY = re.compile(r"^[\w.-]{1,64}$")


@dataclass(frozen=True)
class Filter:
    """Which items a search may return (all fields optional, all given ones must hold).

    Attributes:
        modalities: only items of these modalities.
        path_prefix: only paths starting with this (relative: under any root).
        path_glob: only paths matching this glob (relative: under any root).
        mtime_min: modified at or after this time (seconds since the epoch).
        mtime_max: modified at or before this time.
        size_min: at least this many bytes.
        size_max: at most this many bytes.
        tags: (key, value) pairs the item's tags must all have.
    """

    modalities: tuple[Modality, ...] = ()
    path_prefix: str | None = None
    path_glob: str | None = None
    mtime_min: float | None = None
    mtime_max: float | None = None
    size_min: int | None = None
    size_max: int | None = None
    tags: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) not in (None, ()) for f in fields(self))

    @classmethod
    def parse(cls, value: Filter | Mapping[str, Any] | Sequence[str] | str | None) -> Filter:
        """A filter from a mapping, a list of `FIELD OP VALUE` expressions, or one expression.

        Raises:
            BadInput: an unknown field, an unusable value or operator; `source` names the field.
        """
        if value is None:
            return cls()
        if isinstance(value, Filter):
            return value
        if isinstance(value, str):
            value = [value] if value.strip() else []
        if isinstance(value, Mapping):
            return cls._from_mapping(value)
        if isinstance(value, Sequence):
            return cls._from_mapping(_merge_expressions(value))
        raise BadInput(
            f"a filter is a mapping or a list of expressions, got {type(value).__name__}"
        )

    def sql(
        self, roots: Sequence[str] = (), *, modality: Modality | None = None
    ) -> tuple[str, list[Any]]:
        """The SQL condition on table `items` and its parameters ("1" when empty).

        Args:
            roots: the library's roots, which relative paths are taken under.
            modality: also only this modality (the `modality=` shortcut of `Library.search`).
        """
        terms: list[str] = []
        args: list[Any] = []
        for wanted in (self.modalities, (modality,) if modality is not None else ()):
            if wanted:
                terms.append(f"modality IN ({','.join('?' * len(wanted))})")
                args += [m.value for m in wanted]
        if self.path_prefix is not None:
            options = _anchored(self.path_prefix, roots)
            terms.append("(" + " OR ".join("substr(path, 1, ?) = ?" for _ in options) + ")")
            for p in options:
                args += [len(p), p]
        if self.path_glob is not None:
            options = _anchored(self.path_glob, roots)
            terms.append("(" + " OR ".join("path GLOB ?" for _ in options) + ")")
            args += options
        for column, low, high in (
            ("mtime", self.mtime_min, self.mtime_max),
            ("size", self.size_min, self.size_max),
        ):
            if low is not None:
                terms.append(f"{column} >= ?")
                args.append(low)
            if high is not None:
                terms.append(f"{column} <= ?")
                args.append(high)
        for key, val in self.tags:
            terms.append(f"json_extract(extra, '$.tags.\"{key}\"') = ?")
            args.append(val)
        return (" AND ".join(terms) or "1"), args

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that `parse` reads back."""
        out: dict[str, Any] = {}
        for name, value in self._dict().items():
            if value in (None, ()):
                continue
            if name == "modalities":
                out["modality"] = [m.value for m in value]
            elif name == "tags":
                out["tags"] = dict(value)
            else:
                out[name] = value
        return out

    # -- internals ---------------------------------------------------------------------------

    def _dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any]) -> Filter:
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise BadInput(
                f"unknown filter field {unknown[0]!r}; valid: {', '.join(FIELDS)}",
                source=f"filter.{unknown[0]}",
            )
        return cls(
            modalities=_modalities(data.get("modality")),
            path_prefix=_text(data.get("path_prefix"), "path_prefix"),
            path_glob=_text(data.get("path_glob"), "path_glob"),
            mtime_min=_time(data.get("mtime_min"), "mtime_min"),
            mtime_max=_time(data.get("mtime_max"), "mtime_max"),
            size_min=_size(data.get("size_min"), "size_min"),
            size_max=_size(data.get("size_max"), "size_max"),
            tags=_tags(data.get("tags")),
        )


def _merge_expressions(expressions: Sequence[Any]) -> dict[str, Any]:
    """`["size>=10", "tag.place=beach"]` -> `{"size_min": "10", "tags": {"place": "beach"}}`."""
    out: dict[str, Any] = {}
    for expr in expressions:
        match = _EXPR.match(str(expr))
        if match is None:
            raise BadInput(
                f"a filter is FIELD=VALUE, FIELD>=VALUE or FIELD<=VALUE, got {expr!r}",
                source="filter",
            )
        field, op, value = match["field"], match["op"], match["value"].strip()
        if field.startswith("tag.") or field.startswith("tags."):
            if op != "=":
                raise BadInput(
                    f"tags are compared with '=', got {expr!r}", source=f"filter.{field}"
                )
            out.setdefault("tags", {})[field.split(".", 1)[1]] = value
        elif field in ("mtime", "size"):
            if op in ("=", "!="):
                raise BadInput(
                    f"{field} takes >=, <=, > or <, got {expr!r}", source=f"filter.{field}"
                )
            bound = _size(value, field) if field == "size" else _time(value, field)
            assert bound is not None
            if op == ">":
                bound = bound + 1 if field == "size" else math.nextafter(bound, math.inf)
            elif op == "<":
                bound = bound - 1 if field == "size" else math.nextafter(bound, -math.inf)
            out[f"{field}_{'min' if op.startswith('>') else 'max'}"] = bound
        elif field == "path":
            if op != "=":
                raise BadInput(f"path is compared with '=', got {expr!r}", source="filter.path")
            out["path_glob" if any(c in value for c in "*?[") else "path_prefix"] = value
        elif op == "=":
            out[field] = value.split(",") if field == "modality" else value
        else:
            raise BadInput(f"{field} is compared with '=', got {expr!r}", source=f"filter.{field}")
    return out


def _modalities(value: Any) -> tuple[Modality, ...]:
    if value is None or value == "" or value == []:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence):
        raise BadInput("modality is a name or a list of names", source="filter.modality")
    try:
        return tuple(dict.fromkeys(Modality.parse(str(m).strip()) for m in items))
    except BadInput as e:
        raise BadInput(e.reason, source="filter.modality") from None


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadInput("must be a non-empty string", source=f"filter.{name}")
    return value


def _time(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                raise BadInput(
                    f"must be seconds since the epoch or an ISO 8601 date, got {value!r}",
                    source=f"filter.{name}",
                ) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp()
    else:
        raise BadInput(f"must be a number or a date, got {value!r}", source=f"filter.{name}")
    if not math.isfinite(seconds):
        raise BadInput("must be finite", source=f"filter.{name}")
    return seconds


def _size(value: Any, name: str) -> int | None:
    if value is None:
        return None
    try:
        size = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        size = None
    if size is None or size < 0:
        raise BadInput(
            f"must be a whole number of bytes >= 0, got {value!r}", source=f"filter.{name}"
        )
    return size


def _tags(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise BadInput("tags is a mapping of tag names to values", source="filter.tags")
    out = []
    for key, val in value.items():
        if not isinstance(key, str) or not _TAG_KEY.match(key):
            raise BadInput(
                f"tag names use letters, digits, '.', '_', '-': {key!r}", source="filter.tags"
            )
        if isinstance(val, (dict, list)) or val is None:
            raise BadInput(f"tag {key!r} must be compared with a plain value", source="filter.tags")
        out.append((key, str(val)))
    return tuple(sorted(out))


def _anchored(pattern: str, roots: Sequence[str]) -> list[str]:
    """`pattern` as given if absolute, else under each root."""
    if pattern.startswith("/") or not roots:
        return [pattern]
    return [root.rstrip("/") + "/" + pattern.removeprefix("./") for root in roots]
