"""Model registry: `family_variant.tag` names mapped to builders and weight files.

The registry is a static table; listing it imports nothing heavy and reads no files. A builder is
named by a dotted path ("openbind.zoo.starter:build") and imported only when a model is loaded.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field

from openbind.errors import UnknownModel


@dataclass(frozen=True)
class WeightFile:
    """One downloadable file of a model's weights.

    Attributes:
        filename: name in the cache folder of the model.
        url: where `hub.fetch` downloads it from (https, or file:// for local mirrors).
        sha256: expected checksum (hex); None only for files that openbind builds itself.
        size: expected size in bytes, for the progress bar and a disk-space check (0 if unknown).
    """

    filename: str
    url: str
    sha256: str | None = None
    size: int = 0


@dataclass(frozen=True)
class ModelEntry:
    """A registered space model.

    Attributes:
        name: `family_variant.tag`, e.g. "imagebind_huge.official".
        builder: dotted path "module:function" of `build(entry, **options) -> SpaceModel`.
        modalities: the modalities the model can embed (values of `Modality`).
        dim: dimension of the shared space.
        weights: files to fetch; empty when weights ship inside installed packages.
        license: licence of the weights.
        description: one line for `openbind models`.
    """

    name: str
    builder: str
    modalities: tuple[str, ...]
    dim: int
    weights: tuple[WeightFile, ...] = ()
    license: str = ""
    description: str = ""
    options: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def variant(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1] if "." in self.name else ""


_REGISTRY: dict[str, ModelEntry] = {}
_DEFAULT_TAGS: dict[str, str] = {}


def register(
    entry: ModelEntry, *, default: bool = False, aliases: tuple[str, ...] = ()
) -> ModelEntry:
    """Add `entry`.

    Args:
        entry: the model.
        default: its variant name alone (no tag) resolves to it (the first registered tag of a
            variant is its default unless another says `default=True`).
        aliases: short names that also resolve to it (e.g. "starter").
    """
    if "." not in entry.name:
        raise ValueError(f"model names are family_variant.tag, got {entry.name!r}")
    _REGISTRY[entry.name] = entry
    if default or entry.variant not in _DEFAULT_TAGS:
        _DEFAULT_TAGS[entry.variant] = entry.name
    for alias in aliases:
        _DEFAULT_TAGS[alias] = entry.name
    return entry


def get(name: str) -> ModelEntry:
    """The entry for `name` ("variant.tag" or just "variant" for its default tag).

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


def list_models(pattern: str = "*") -> list[ModelEntry]:
    """Registered models whose name matches the glob `pattern`, sorted by name."""
    _ensure_builtin()
    return [e for n, e in sorted(_REGISTRY.items()) if fnmatch.fnmatch(n, pattern)]


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Undo, on exit, every registration made inside (for tests that register throwaway models).

    Example:
        >>> with isolated():
        ...     register(ModelEntry("toy_tiny.test", "tests.toy:build", ("text",), 8))
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
