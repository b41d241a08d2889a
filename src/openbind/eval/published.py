"""The papers' numbers, stored as data (`published.json`), to put beside measured ones.

Every row is marked published: openbind did not measure it. Rows carry their source (paper
table or README) and, where the source leaves the protocol open (FreeBind's retrieval tables do
not say which direction), a note.

Example:
    >>> [r.value for r in published("esc50") if r.model == "ImageBind (huge)"]
    [66.9]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from openbind.eval.report import EvalReport

FILE = Path(__file__).parent / "published.json"


@dataclass(frozen=True)
class Row:
    """One number of a comparison table.

    Attributes:
        model: the space ("ImageBind (huge)", or the measured space's id).
        metric: as in `EvalReport.metrics` ("top1", "text->audio R@1"), or "R@1" when the
            source does not say the direction.
        value: percent.
        kind: "published" or "measured".
        source: where a published number comes from ("openbind" for measured ones).
        note: what the source leaves open.
    """

    model: str
    metric: str
    value: float
    kind: str
    source: str
    note: str = ""


@cache
def _table() -> dict:
    return json.loads(FILE.read_text())["benchmarks"]


def benchmarks() -> list[str]:
    """Benchmarks with published numbers."""
    return sorted(_table())


def published(benchmark: str) -> list[Row]:
    """The published rows of `benchmark` ([] if none are stored)."""
    entry = _table().get(benchmark, {"rows": []})
    return [
        Row(r["model"], r["metric"], float(r["value"]), "published", r["source"], r.get("note", ""))
        for r in entry["rows"]
    ]


def compare(report: EvalReport) -> list[Row]:
    """Measured rows of `report` for the metrics the papers report, then the published rows.

    A published metric without a direction ("R@1") is matched by every direction measured.
    """
    rows = published(report.benchmark)
    wanted = {r.metric for r in rows}
    measured = []
    for name, value in report.metrics.items():
        bare = name.split(" ", 1)[-1]
        if name in wanted or (" " in name and bare in wanted):
            measured.append(Row(report.model_id, name, value, "measured", "openbind"))
    return measured + rows
