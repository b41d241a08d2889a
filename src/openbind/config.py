"""Frozen config dataclasses stored as JSON.

Configs are plain frozen dataclasses; JSON only stores them. `from_dict` rebuilds one from parsed
JSON: it rejects unknown keys (listing the valid ones) and missing required keys, checks value
types against the field annotations (naming the dotted key), rebuilds nested dataclasses, turns
lists into tuples for tuple fields, accepts integers for float fields, and turns strings back into
enum members (e.g. `Modality`). Annotations it does not know are passed through unchecked.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from openbind.errors import ConfigError

C = TypeVar("C")


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass."""
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build `cls` from `data`, checking keys and value types; nested dataclasses are rebuilt.

    Raises:
        ConfigError: unknown keys (listed with the valid ones), a missing required key, or a
            value of the wrong type (the dotted key is named).

    Example:
        >>> from_dict(ImageConfig, {"size": 256, "mean": [0.5, 0.5, 0.5]})
    """
    return _build(cls, data, cls.__name__)


def save_json(config: Any, path: str | Path) -> None:
    """Write `config` as indented JSON with sorted keys."""
    Path(path).write_text(json.dumps(to_dict(config), indent=1, sort_keys=True) + "\n")


def load_json(cls: type[C], path: str | Path) -> C:
    """Read a config of type `cls` written by `save_json` (checked like `from_dict`)."""
    return from_dict(cls, json.loads(Path(path).read_text()))


def _build(cls: type[C], data: Any, where: str) -> C:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {sorted(fields)}")
    missing = sorted(
        name
        for name, f in fields.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ConfigError(f"{where}: missing required keys {missing}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """`value` as an instance of the annotation `hint`, or ConfigError naming `where`."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own error is the informative one
            return _coerce(options[0], value, where)
        for arg in options:
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise _wrong(hint, value, where)
    if hint is type(None):
        if value is None:
            return None
        raise _wrong(hint, value, where)
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else _build(hint, value, where)
    if origin in (tuple, list):
        return origin(_items(hint, value, where))
    if origin is dict:
        if not isinstance(value, dict):
            raise _wrong(hint, value, where)
        _, value_type = typing.get_args(hint) or (Any, Any)
        return {k: _coerce(value_type, v, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(hint))}")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(
                f"{where}: {value!r} is not one of {[m.value for m in hint]}"
            ) from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if isinstance(value, hint) and (hint is bool or not isinstance(value, bool)):
            return value
        raise _wrong(hint, value, where)
    return value


def _items(hint: Any, value: Any, where: str) -> list[Any]:
    """The coerced items of a tuple[...] / list[...] field."""
    if not isinstance(value, (list, tuple)):
        raise _wrong(hint, value, where)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
        return [
            _coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        ]
    item = args[0] if args else Any
    return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]


def _wrong(hint: Any, value: Any, where: str) -> ConfigError:
    name = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
    return ConfigError(f"{where}: expected {name}, got {type(value).__name__} {value!r}")
