"""Plots of a report (matplotlib, no display needed): per-class accuracy bars for classification,
recall@k curves for retrieval."""

from __future__ import annotations

from pathlib import Path

from openbind.errors import BadInput, require
from openbind.eval.report import EvalReport

MAX_BARS = 60
"""Classes shown: all up to this many, else the best and worst half each."""


def plot(report: EvalReport, path: str | Path) -> Path:
    """Write the report's plot to `path` (PNG, SVG or PDF by its extension).

    Raises:
        BadInput: the report has neither per-class accuracies nor recall curves.
        MissingExtra: matplotlib is not installed (`pip install 'openbind[eval]'`).
    """
    require("matplotlib", "eval")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    title = f"{report.model_id} on {report.benchmark} ({report.task})"
    if report.per_class:
        items = sorted(report.per_class.items(), key=lambda kv: kv[1])
        if len(items) > MAX_BARS:
            items = items[: MAX_BARS // 2] + items[-MAX_BARS // 2 :]
        fig, ax = plt.subplots(figsize=(7, 1.5 + 0.22 * len(items)))
        ax.barh([k for k, _ in items], [v for _, v in items], color="#4c72b0")
        ax.set_xlabel("top-1 accuracy (%)")
        ax.set_xlim(0, 100)
        headline = report.metrics.get("top1")
        if headline is not None:
            ax.axvline(headline, color="#dd8452", linestyle="--", label=f"overall {headline:.1f}%")
            ax.legend(loc="lower right")
    elif report.curves:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, curve in report.curves.items():
            ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, label=name)
        ax.set_xlabel("k")
        ax.set_ylabel("recall@k (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend()
    else:
        raise BadInput("nothing to plot: the report has no per-class accuracies or recall curves")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
