"""Evaluate any `openbind.Space` on the benchmarks of the papers, reproducibly.

* `metrics`: top-k / per-class accuracy, R@k, median / mean rank, mAP (numpy functions).
* `load_dataset(root, layout)`: benchmark folders as they are on disk (`LAYOUTS`).
* `zero_shot`, `retrieval`, `linear_probe`: the protocols; each returns an `EvalReport` with the
  metrics, counts, settings and provenance (space, weights and data checksums, versions).
* `CachedEncoder`: embeddings cached by content hash, shared between protocols and runs.
* `published`: the papers' numbers (published, not measured) for `--compare`.

Example:
    >>> import openbind as ob
    >>> from openbind import eval as obe
    >>> space = ob.load("starter")
    >>> data = obe.load_dataset("ESC-50-master", "esc50")
    >>> report = obe.zero_shot(space, data, cache_dir="~/.cache/openbind/eval")
    >>> report.metrics["top1"]
"""

from openbind.eval import metrics
from openbind.eval.cache import CachedEncoder
from openbind.eval.data import Classification, Dataset, Item, Pairs
from openbind.eval.layouts import LAYOUTS, LayoutOptions, PartialDataset, load_dataset
from openbind.eval.probe import linear_probe
from openbind.eval.report import EvalReport
from openbind.eval.retrieval import retrieval
from openbind.eval.zero_shot import zero_shot

__all__ = [
    "LAYOUTS",
    "CachedEncoder",
    "Classification",
    "Dataset",
    "EvalReport",
    "Item",
    "LayoutOptions",
    "Pairs",
    "PartialDataset",
    "linear_probe",
    "load_dataset",
    "metrics",
    "retrieval",
    "zero_shot",
]
