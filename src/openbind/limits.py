"""Bounds on what one input may cost, and the record of inputs cut to fit them.

Every modality has a bounded cost per item, so that no single input (a 20 MB caption, a
16000 x 10000 video, an hour of mp3) can take seconds of CPU or gigabytes of memory. Each bound
is a setting with the default below; going over it either raises `LimitExceeded` (a
`DecodeError`, so a `BadInput`, naming the input, the setting and its value) or, for text, cuts
the input to the limit and records the cut as a `Truncation`.

| setting | default | where | over it |
|---|---|---|---|
| `max_chars` | 20,000 characters | `TextConfig`, `TokenizeText`, `read_text` | cut, recorded |
| `max_pixels` | 178,956,970 per image | `ImageConfig` | `LimitExceeded` |
| `max_pixels` | 16,777,216 per map | `DepthConfig`, `ThermalConfig` | `LimitExceeded` |
| `max_pixels` | 16,777,216 per video frame | `VideoConfig` | `LimitExceeded` |
| `max_duration_s` | 4 hours | `AudioConfig` | `LimitExceeded` |
| `MAX_LABELS` | 256 labels | `/classify` (`openbind.serve`) | `LimitExceeded` |
| `MAX_QUERY_PARTS` | 16 parts | `/search` (`openbind.serve`) | `LimitExceeded` |

Truncations are collected per item: code that runs a transform wraps the call in `recording()`
and reports what it got (`SpaceModel.encode_report` lists them with the item's index).

Example:
    >>> with recording() as cuts:
    ...     text = cut_text("x" * 30_000, 20_000, source="caption")
    >>> len(text), cuts[0].original
    (20000, 30000)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from openbind.errors import LimitExceeded

__all__ = [
    "DEFAULT_MAX_AUDIO_SECONDS",
    "DEFAULT_MAX_MAP_PIXELS",
    "DEFAULT_MAX_TEXT_CHARS",
    "DEFAULT_MAX_VIDEO_PIXELS",
    "MAX_LABELS",
    "MAX_QUERY_PARTS",
    "Truncation",
    "check_limit",
    "cut_text",
    "note",
    "recording",
]

DEFAULT_MAX_TEXT_CHARS = 20_000
"""Characters of a text kept before tokenising (CLIP keeps 77 tokens, MiniLM 256: a text cut
here has long lost its end to the tokenizer's own truncation, unless it is mostly whitespace)."""
DEFAULT_MAX_VIDEO_PIXELS = 4096 * 4096
"""Pixels per video frame (16.8 MP: 4K and 5K cameras pass; 8K, 35 MP, is refused)."""
DEFAULT_MAX_MAP_PIXELS = 4096 * 4096
"""Pixels per depth or thermal map (16.8 MP; sensors give well under 1 MP). Maps are decoded
to float, so a 100 MP one would take gigabytes."""
DEFAULT_MAX_AUDIO_SECONDS = 4 * 3600.0
"""Longest audio recording accepted, in seconds."""
MAX_LABELS = 256
"""Labels in one zero-shot classification request of the server."""
MAX_QUERY_PARTS = 16
"""Parts (text and files) in one composed search query of the server."""


@dataclass(frozen=True)
class Truncation:
    """An input that was cut to a limit instead of refused.

    Attributes:
        setting: the setting that holds the limit ("max_chars").
        limit: its value (what was kept).
        original: the input's size before the cut (same unit; for a text file read only in
            part, its size in bytes).
        source: the input's name.
    """

    setting: str
    limit: int
    original: int
    source: str

    @property
    def reason(self) -> str:
        """One line for reports: what was cut and why."""
        return f"cut to the first {self.limit:,} of {self.original:,} ({self.setting})"


_RECORD: ContextVar[list[Truncation] | None] = ContextVar("openbind_truncations", default=None)


@contextmanager
def recording() -> Iterator[list[Truncation]]:
    """Collect the `Truncation`s noted inside the block (in this thread / task)."""
    found: list[Truncation] = []
    token = _RECORD.set(found)
    try:
        yield found
    finally:
        _RECORD.reset(token)


def note(cut: Truncation) -> None:
    """Record a cut for the innermost `recording()` block (nothing happens outside one)."""
    found = _RECORD.get()
    if found is not None:
        found.append(cut)


def cut_text(text: str, max_chars: int | None, *, source: str = "text") -> str:
    """`text` cut to its first `max_chars` characters (noted as a `Truncation`); None: no cut."""
    if max_chars is None or len(text) <= max_chars:
        return text
    note(Truncation("max_chars", max_chars, len(text), source))
    return text[:max_chars]


def check_limit(value: float, limit: float | None, setting: str, what: str, source: str) -> None:
    """Raise `LimitExceeded` when `value` is over `limit` (None: no limit).

    Args:
        value: the input's size.
        limit: the setting's value.
        setting: the setting's name, for the message.
        what: the size with its unit, for the message ("16000x10000 = 160000000 pixels").
        source: the input's name.
    """
    if limit is not None and value > limit:
        raise LimitExceeded(
            f"{what} is over the limit {setting}={limit:,}",
            setting=setting,
            limit=limit,
            source=source,
        )
