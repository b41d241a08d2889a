"""The openbind error tree. Every error the library raises on purpose derives from `OpenbindError`."""

from __future__ import annotations


class OpenbindError(Exception):
    """Base class of all openbind errors.

    Every one survives pickling as it is (type, message and attributes), whatever its
    constructor takes: the server's worker process sends them back to the server that way.
    """

    def __reduce__(self) -> tuple:
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[OpenbindError], args: tuple, state: dict) -> OpenbindError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class BadInput(OpenbindError, ValueError):
    """An input (file, bytes, array, text, request field) cannot be used; the message names it.

    Attributes:
        source: the input itself (a path, a short string), when known.
        reason: why it cannot be used, without the input's name or position.
        index: its position in a batch, when it came in one (set by `at`).
        modality: what it was to be embedded as, when known (set by `at`).
    """

    def __init__(self, message: str, *, source: object | None = None) -> None:
        self.source = source
        self.reason = message
        self.index: int | None = None
        self.modality: str | None = None
        super().__init__(f"{_describe(source)}: {message}" if source is not None else message)

    def at(self, index: int, modality: str | None = None) -> BadInput:
        """Mark this error as that of item `index` of a batch; the message then starts with it."""
        self.index = index
        self.modality = modality
        what = f"{modality} item" if modality else "item"
        self.args = (f"{what} {index}: {self.args[0] if self.args else self.reason}",)
        return self


class UnknownId(OpenbindError, KeyError):
    """An id (of a library item, a job, ...) that does not exist was asked for."""

    def __init__(self, id: object, *, where: str = "") -> None:
        self.id = id
        super().__init__(f"no item with id {id!r}" + (f" in {where}" if where else ""))

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DecodeError(BadInput):
    """A media file or buffer is corrupt, empty, truncated or of an unsupported format."""


class LimitExceeded(DecodeError):
    """An input goes over one of openbind's cost limits (`openbind.limits`): pixels per image or
    video frame, audio duration, labels per request, parts per query, ...

    Attributes:
        setting: the name of the setting that holds the limit (e.g. "max_pixels").
        limit: its value.
    """

    def __init__(
        self, message: str, *, setting: str, limit: object, source: object | None = None
    ) -> None:
        self.setting = setting
        self.limit = limit
        super().__init__(message, source=source)


class RequestTimeout(OpenbindError, TimeoutError):
    """A request went over its time budget (the server's `--timeout`); others kept running.

    Attributes:
        seconds: the budget.
    """

    def __init__(self, seconds: float, what: str = "the request") -> None:
        self.seconds = seconds
        super().__init__(f"{what} took longer than its time budget of {seconds:g} s")


class UnknownModel(OpenbindError, KeyError):
    """A model name is not in the registry; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingModality(OpenbindError, KeyError):
    """A space was asked for a modality it has no tower for; the message lists those it has."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SpaceMismatch(OpenbindError, ValueError):
    """Embeddings, indexes or checkpoints from different spaces or dimensions were combined."""


class WeightsError(OpenbindError):
    """Weights are missing, corrupted, truncated or do not fit the model."""


class MissingWeights(WeightsError, FileNotFoundError):
    """Weights are neither cached nor given, and cannot be downloaded (offline, no URL)."""


class ChecksumMismatch(WeightsError):
    """A downloaded or cached file does not have the expected sha256."""


class CheckpointMismatch(WeightsError):
    """A state dict has missing, unexpected or wrongly shaped keys (all listed in the message)."""


class DownloadError(WeightsError):
    """A download failed (offline, HTTP error, disk full); nothing half-written is left in the cache."""


class MissingExtra(OpenbindError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class ConfigError(OpenbindError, ValueError):
    """A config or recipe has unknown keys or values of the wrong type."""


class UnsupportedBackend(ConfigError):
    """This machine cannot run the requested dtype or kernel backend (e.g. int8 off the CPU)."""


class VectorIndexError(OpenbindError):
    """A vector index is missing, corrupt or cannot be written."""


class IndexMismatch(VectorIndexError, SpaceMismatch):
    """An index was built with another model, dimension or normalisation than the one asked for."""


def _describe(source: object) -> str:
    if isinstance(source, (str, bytes)) and len(source) > 80:
        return f"{type(source).__name__}[{len(source)}]"
    if isinstance(source, bytes):
        return f"bytes[{len(source)}]"
    return str(source)


def require(module: str, extra: str) -> object:
    """Import an optional dependency or raise `MissingExtra` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(
            f"{module} is needed for this; install it with: pip install 'openbind[{extra}]'"
        ) from e
