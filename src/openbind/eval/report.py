"""`EvalReport`: what one evaluation measured, on what, with what, and how to get it again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EvalReport:
    """The result of one protocol on one dataset with one space.

    Attributes:
        task: "zero-shot", "retrieval" or "linear-probe".
        benchmark: the dataset's benchmark name ("esc50", "audiocaps", ...), which selects the
            published numbers it is compared with.
        model_id: the space evaluated.
        metrics: headline numbers, in percent for accuracies, recalls and mAP ("top1",
            "text->audio R@1", ...), ranks as ranks.
        per_class: per class, top-1 accuracy in percent (classification tasks).
        curves: per retrieval direction, R@k in percent for k = 1, 2, ... (for plots).
        counts: items evaluated, refused, missing, encoded, reused from the cache, ...
        settings: templates, seed, split, k, ... (what a re-run must repeat).
        provenance: space id and card, weights checksum, openbind version, data checksum.
        warnings: what the reader should know (partial data, absent classes, ...).
    """

    task: str
    benchmark: str
    model_id: str
    metrics: dict[str, float]
    per_class: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON (also written to `path` when given)."""
        text = json.dumps(self.to_dict(), indent=1, default=str)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text


def percent(x: float) -> float:
    """A fraction in percent, rounded to 2 decimals (what tables and JSON show)."""
    return round(100.0 * float(x), 2)


def per_class_percent(classes: Sequence[str], accuracies: Sequence[float]) -> dict[str, float]:
    """Each class's accuracy in percent; classes with no evaluated item (NaN) are left out."""
    return {c: percent(a) for c, a in zip(classes, accuracies, strict=True) if not np.isnan(a)}
