"""The summary of a batch-embedding run: what was embedded, kept, reused, removed and skipped."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Skipped:
    """A file that was not embedded, and why."""

    path: str
    reason: str


@dataclass
class RunSummary:
    """Counts of a run.

    Attributes:
        embedded: files run through the model.
        reused: new or changed files whose vector was copied from an identical stored file.
        unchanged: stored items kept as they were.
        removed: stored items dropped (file deleted or changed).
        skipped: unsupported, unreadable or corrupt files.
        warnings: files embedded by content whose name says otherwise ("a JPEG named .wav").
        seconds: wall time.
        total: items in the output after the run.
    """

    embedded: int = 0
    reused: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    total: int = 0

    @property
    def files_per_second(self) -> float:
        """Embedded files per second of wall time."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["files_per_second"] = round(self.files_per_second, 3)
        return data
