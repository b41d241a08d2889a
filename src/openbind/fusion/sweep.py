"""Factor sweeps: score a fused space on tasks over a grid of factors ("coarse-to-fine": pick
the bonds, then the factors).

Every task's items are encoded once per component space (`FusedSpace.component_vectors`); each
grid point only re-mixes the cached vectors, so a sweep costs one encoding pass.

Tasks (`SweepTask`):

* `retrieval`: leave-one-out R@1 among the items: an item's nearest other item has its label
  (e.g. speaker retrieval: same speaker).
* `zero_shot`: top-1 accuracy of classifying the items against text prompts, one per label
  (the prompts are fused too, so text factors matter).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from openbind.errors import ConfigError
from openbind.fusion.fused import FusedSpace
from openbind.fusion.presets import PRESET_TITLES, PRESETS
from openbind.types import Modality


@dataclass(frozen=True)
class SweepTask:
    """A task scored at every grid point.

    Attributes:
        name: column name in the table.
        kind: "retrieval" or "zero_shot".
        modality: what the items are.
        items: the inputs.
        labels: one label per item.
        prompts: zero_shot only: label -> the text prompt of its class.
    """

    name: str
    kind: str
    modality: str
    items: tuple[Any, ...]
    labels: tuple[str, ...]
    prompts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("retrieval", "zero_shot"):
            raise ConfigError(
                f"task {self.name}: kind must be retrieval or zero_shot, got {self.kind!r}"
            )
        if len(self.items) != len(self.labels):
            raise ConfigError(
                f"task {self.name}: {len(self.items)} items but {len(self.labels)} labels"
            )
        if self.kind == "zero_shot":
            missing = sorted(set(self.labels) - set(self.prompts))
            if missing:
                raise ConfigError(f"task {self.name}: no prompt for label {missing[0]!r}")


def retrieval_r1(vectors: torch.Tensor, labels: Sequence[str]) -> float:
    """Leave-one-out R@1: share of items whose nearest other item has the same label."""
    sims = vectors @ vectors.T
    sims.fill_diagonal_(-float("inf"))
    nearest = sims.argmax(1).tolist()
    return sum(labels[i] == labels[j] for i, j in enumerate(nearest)) / len(labels)


def zero_shot_top1(
    vectors: torch.Tensor,
    labels: Sequence[str],
    classes: Sequence[str],
    class_vectors: torch.Tensor,
) -> float:
    """Top-1 accuracy of `vectors` against `class_vectors` (one row per class)."""
    pred = (vectors @ class_vectors.T).argmax(1).tolist()
    return sum(classes[p] == y for p, y in zip(pred, labels, strict=True)) / len(labels)


class Sweeper:
    """Scores one fused space's bond over factor settings, encoding each task once."""

    def __init__(self, fused: FusedSpace, tasks: Sequence[SweepTask], bond: int = -1) -> None:
        self.fused, self.tasks, self.bond = fused, list(tasks), bond % len(fused.bonds)
        self._cache: dict[str, dict[str, Any]] = {}
        for t in self.tasks:
            entry = {"vectors": fused.component_vectors(t.modality, list(t.items))}
            if t.kind == "zero_shot":
                classes = sorted(t.prompts)
                entry["classes"] = classes
                entry["text"] = fused.component_vectors(
                    Modality.TEXT, [t.prompts[c] for c in classes]
                )
            self._cache[t.name] = entry

    def score(self, factors: Mapping[Modality | str, float] | str | None) -> dict[str, float]:
        """Each task's score with the bond's factors replaced by `factors` (None: its own)."""
        per_bond: list[Any] = [None] * len(self.fused.bonds)
        per_bond[self.bond] = factors
        out = {}
        for t in self.tasks:
            c = self._cache[t.name]
            v = self.fused.fuse(t.modality, c["vectors"], per_bond).vectors
            if t.kind == "retrieval":
                out[t.name] = retrieval_r1(v, t.labels)
            else:
                text = self.fused.fuse(Modality.TEXT, c["text"], per_bond).vectors
                out[t.name] = zero_shot_top1(v, t.labels, c["classes"], text)
        return out


def grid(axes: Mapping[str, Sequence[float]]) -> list[dict[Modality, float]]:
    """Every combination of the per-modality factor values."""
    mods = [Modality.parse(m) for m in axes]
    return [dict(zip(mods, values, strict=True)) for values in itertools.product(*axes.values())]


def sweep(
    fused: FusedSpace,
    tasks: Sequence[SweepTask],
    axes: Mapping[str, Sequence[float]],
    *,
    bond: int = -1,
    presets: bool = True,
) -> list[dict[str, Any]]:
    """Rows `{factors..., preset, task scores...}` for every grid point (and each preset)."""
    s = Sweeper(fused, tasks, bond)
    points = [(f, "") for f in grid(axes)]
    if presets:
        points += [(dict(PRESETS[p]), PRESET_TITLES[p]) for p in PRESETS]
    rows = []
    for factors, label in points:
        usable = {m: f for m, f in factors.items() if m in _mixed(fused, s.bond)}
        row: dict[str, Any] = {m.value: f for m, f in factors.items()}
        row["preset"] = label
        row.update(s.score(usable))
        rows.append(row)
    return rows


def _mixed(fused: FusedSpace, bond: int) -> set[Modality]:
    b = fused.bonds[bond]
    out: set[Modality] = set()
    for e in b.experts:
        out |= set(fused.experts[e].modalities)
    return out


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of sweep rows."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def write_results(rows: Sequence[Mapping[str, Any]], out: str | Path) -> Path:
    """`out.csv` and `out.json` of the rows; returns the CSV path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.with_suffix(".csv").open("w", newline="") as f:
        names = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    out.with_suffix(".json").write_text(json.dumps(list(rows), indent=1) + "\n")
    return out.with_suffix(".csv")


def plot(rows: Sequence[Mapping[str, Any]], x: str, tasks: Sequence[str], path: str | Path) -> Path:
    """Each task's score against factor `x` (other factors at their first grid value), presets
    marked. Needs matplotlib (`openbind[plot]`)."""
    from openbind.errors import require

    require("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plain = [r for r in rows if not r.get("preset")]
    others = [k for k in plain[0] if k not in (x, "preset", *tasks)]
    first = {k: plain[0][k] for k in others}
    line = sorted(
        (r for r in plain if all(r[k] == v for k, v in first.items())), key=lambda r: r[x]
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    for t in tasks:
        ax.plot([r[x] for r in line], [r[t] for r in line], marker="o", label=t)
    for r in rows:
        if r.get("preset") and x in r:
            ax.axvline(r[x], color="grey", linestyle="--", linewidth=0.8)
            ax.text(r[x], ax.get_ylim()[1], f" {r['preset']}", rotation=90, va="top", fontsize=8)
    ax.set_xlabel(f"{x} factor (weight on the projected expert)")
    ax.set_ylabel("score")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
