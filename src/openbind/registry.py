"""Model registry: `family_variant.tag` names mapped to model cards (`openbind.cards`).

The registry is a static table; listing it imports nothing heavy and reads no files. A builder is
named by a dotted path ("openbind.zoo.starter:build") and imported only when a model is loaded; it
must live in a package of the model layer (`BUILDER_PACKAGES`), so loading a model by name never
imports the layers on top (train, fusion, serve, cli, pipeline, eval).
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
from collections.abc import Iterator

from openbind.cards import ModelCard, WeightFile
from openbind.errors import ConfigError, UnknownModel

__all__ = [
    "BUILDER_PACKAGES",
    "ModelCard",
    "WeightFile",
    "aliases_of",
    "check_builder",
    "get",
    "isolated",
    "list_models",
    "register",
]

BUILDER_PACKAGES = ("openbind.zoo", "openbind.encoders", "openbind.space")
"""Packages a builder of the library may live in (tests and plugins may use their own)."""

_REGISTRY: dict[str, ModelCard] = {}
_DEFAULT_TAGS: dict[str, str] = {}


def register(
    entry: ModelCard, *, default: bool = False, aliases: tuple[str, ...] = ()
) -> ModelCard:
    """Add the card `entry`.

    Args:
        entry: the model.
        default: its variant name alone (no tag) resolves to it (the first registered tag of a
            variant is its default unless another says `default=True`).
        aliases: short names that also resolve to it, besides the card's own `aliases`.
    """
    if "." not in entry.name:
        raise ValueError(f"model names are family_variant.tag, got {entry.name!r}")
    _REGISTRY[entry.name] = entry
    if default or entry.variant not in _DEFAULT_TAGS:
        _DEFAULT_TAGS[entry.variant] = entry.name
    for alias in (*entry.aliases, *aliases):
        _DEFAULT_TAGS[alias] = entry.name
    return entry


def aliases_of(name: str) -> tuple[str, ...]:
    """The short names that resolve to the card `name` (its variant if default, and aliases), sorted."""
    _ensure_builtin()
    return tuple(sorted(a for a, full in _DEFAULT_TAGS.items() if full == name))


def check_builder(path: str, packages: tuple[str, ...] = BUILDER_PACKAGES) -> None:
    """Check that the builder `path` ("module:function") lives in one of `packages`.

    Raises:
        ConfigError: a malformed path, or a module outside `packages` (a core loader must not
            import the layers on top through a builder named by string).
    """
    module, sep, func = path.partition(":")
    if not (sep and module and func.isidentifier()):
        raise ConfigError(f"builder {path!r}: expected 'module:function'")
    if not any(module == p or module.startswith(p + ".") for p in packages):
        raise ConfigError(f"builder {path!r} is outside the model layer ({', '.join(packages)})")


def get(name: str) -> ModelCard:
    """The card for `name` ("variant.tag", "variant" for its default tag, or an alias).

    Raises:
        UnknownModel: no such model; the message suggests close names.
    """
    _ensure_builtin()
    full = _DEFAULT_TAGS.get(name, name)
    if full in _REGISTRY:
        return _REGISTRY[full]
    candidates = list(_REGISTRY) + list(_DEFAULT_TAGS)
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownModel(f"unknown model {name!r}{hint} (see `openbind models`)")


def list_models(pattern: str = "*") -> list[ModelCard]:
    """Registered models whose name matches the glob `pattern`, sorted by name."""
    _ensure_builtin()
    return [e for n, e in sorted(_REGISTRY.items()) if fnmatch.fnmatch(n, pattern)]


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Undo, on exit, every registration made inside (for tests that register throwaway models).

    Example:
        >>> with isolated():
        ...     register(ModelCard("toy_tiny.test", "tests.toy:build", ("text",), 8))
    """
    _ensure_builtin()  # the builtin entries belong to the saved state
    saved = [(table, dict(table)) for table in (_REGISTRY, _DEFAULT_TAGS)]
    try:
        yield
    finally:
        for table, before in saved:
            table.clear()
            table.update(before)


def _ensure_builtin() -> None:
    # The zoo tables are plain data modules (no torch import); importing them registers entries.
    from openbind.zoo import tables  # noqa: F401
