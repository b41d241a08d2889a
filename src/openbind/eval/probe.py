"""Linear probe and few-shot: logistic regression on frozen embeddings (scikit-learn).

The classifier is trained on the training items' unit vectors and tested on the others. Which
items train: the "train" split when the layout has one; else leave-one-fold-out over the
layout's folds (ESC-50's 5); else a stratified k-fold split drawn with `seed`. With `shots=K`,
K training items per class are drawn with `seed` (few-shot). The inverse regularisation C is
chosen from `c_values` by 3-fold cross-validation on the training items when every class has
3 of them, else fixed at 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openbind.errors import BadInput, require
from openbind.eval import metrics
from openbind.eval.cache import CachedEncoder
from openbind.eval.common import encoder_for, finish, need, refused, tally
from openbind.eval.data import Classification, Dataset
from openbind.eval.report import EvalReport, per_class_percent, percent
from openbind.space.protocol import Space

C_VALUES = (0.1, 1.0, 10.0, 100.0)


def linear_probe(
    space: Space,
    data: Dataset,
    *,
    shots: int | None = None,
    folds: int = 5,
    c_values: Sequence[float] = C_VALUES,
    encoder: CachedEncoder | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> EvalReport:
    """Accuracy of a logistic regression on `space`'s embeddings of the labelled items.

    Args:
        space: any `openbind.Space` with a tower for the data's modality.
        data: a dataset with class labels.
        shots: training items per class (few-shot); None uses every training item.
        folds: folds of the stratified split when the layout has neither splits nor folds.
        c_values: inverse regularisation strengths to choose from.
        encoder, cache_dir: as in `openbind.eval.zero_shot`.
        seed: draws the folds and the few-shot items.

    Raises:
        BadInput: no class labels, fewer than 2 classes, or too few items for the split.
        MissingExtra: scikit-learn is not installed (`pip install 'openbind[eval]'`).
    """
    require("sklearn", "eval")
    clf = data.classification
    if clf is None:
        raise BadInput(f"{data.name} ({data.layout}) has no class labels; run retrieval on it")
    need(space, clf.modality)
    enc = encoder_for(space, encoder, cache_dir)
    before = tally(enc)
    encoded = enc.encode(clf.modality, clf.items)
    x = encoded.vectors
    y = np.asarray([clf.labels[i] for i in encoded.kept])
    if len(set(y.tolist())) < 2:
        raise BadInput(
            f"a linear probe needs 2 classes with items, {data.name} has {len(set(y.tolist()))}"
        )
    splits, scheme = _splits(clf, encoded.kept, y, folds, seed)
    rng = np.random.default_rng(seed)
    accuracies, scores_all, labels_all = [], [], []
    for train, test in splits:
        if shots is not None:
            train = _few(train, y, shots, rng)
        model = _fit(x[train], y[train], c_values, seed)
        scores = _scores(model, x[test], len(clf.classes))
        accuracies.append(metrics.top_k_accuracy(scores, y[test], 1))
        scores_all.append(scores)
        labels_all.append(y[test])
    scores, labels = np.concatenate(scores_all), np.concatenate(labels_all)
    per_class = metrics.per_class_accuracy(scores, labels)
    out = {
        "top1": percent(np.mean(accuracies)),
        "top1_std": percent(np.std(accuracies)),
        "mean_per_class": percent(metrics.mean_per_class_accuracy(scores, labels)),
    }
    return finish(
        "linear-probe",
        data,
        enc,
        encoded.keys,
        metrics=out,
        per_class=per_class_percent(clf.classes, per_class),
        counts={
            "evaluated": len(encoded.kept),
            "refused": len(encoded.errors),
            "splits": len(splits),
        },
        settings={
            "modality": clf.modality.value,
            "split": scheme,
            "shots": shots,
            "c_values": list(c_values),
            "seed": seed,
            "per_split_top1": [percent(a) for a in accuracies],
        },
        warnings=refused(encoded),
        before=before,
    )


def _splits(
    clf: Classification, kept: list[int], y: np.ndarray, folds: int, seed: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    rows = np.arange(len(kept))
    if clf.splits is not None and "train" in clf.splits:
        is_train = np.asarray([clf.splits[i] == "train" for i in kept])
        if is_train.all() or not is_train.any():
            raise BadInput("the train split or the test split has no encoded item")
        return [(rows[is_train], rows[~is_train])], "train/test folders"
    if clf.folds is not None:
        f = np.asarray([clf.folds[i] for i in kept])
        return [(rows[f != k], rows[f == k]) for k in sorted(set(f.tolist()))], "leave one fold out"
    from sklearn.model_selection import StratifiedKFold

    smallest = int(np.bincount(y)[np.bincount(y) > 0].min())
    n = min(folds, smallest)
    if n < 2:
        raise BadInput("a linear probe without splits needs at least 2 items of every class")
    kf = StratifiedKFold(n_splits=n, shuffle=True, random_state=seed)
    return list(kf.split(rows, y)), f"stratified {n}-fold (seed {seed})"


def _few(train: np.ndarray, y: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    if shots < 1:
        raise BadInput(f"shots must be >= 1, got {shots}")
    picked = []
    for c in np.unique(y[train]):
        members = train[y[train] == c]
        picked.extend(rng.choice(members, size=min(shots, len(members)), replace=False).tolist())
    return np.asarray(sorted(picked))


def _fit(x: np.ndarray, y: np.ndarray, c_values: Sequence[float], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    c = 1.0
    counts = np.bincount(y)[np.unique(y)]
    if len(c_values) > 1 and counts.min() >= 3:
        folds = StratifiedKFold(3, shuffle=True, random_state=seed)
        means = [
            cross_val_score(LogisticRegression(C=v, max_iter=2000), x, y, cv=folds).mean()
            for v in c_values
        ]
        c = float(c_values[int(np.argmax(means))])
    return LogisticRegression(C=c, max_iter=2000).fit(x, y)


def _scores(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, n_classes) decision scores; classes absent from training score -inf."""
    d = model.decision_function(x)
    if d.ndim == 1:  # two classes: one margin for classes_[1]
        d = np.stack([-d, d], axis=1)
    scores = np.full((len(x), n_classes), -np.inf)
    scores[:, model.classes_] = d
    return scores
