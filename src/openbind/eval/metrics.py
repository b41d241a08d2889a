"""Evaluation metrics as plain functions on numpy arrays.

Classification takes an (N, C) score matrix and N integer labels; retrieval takes an (Q, M)
similarity matrix and, per query, the candidates that count as correct (several are allowed:
an AudioCaps clip has five captions). Every function returns plain floats or arrays; percentages
are the caller's business.

Ties are counted against the model: a correct class or item that ties with a wrong one is ranked
after it, so a model that gives every candidate the same score gets no credit (its top-1
accuracy is 0, not 100 %).

Example:
    >>> scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> top_k_accuracy(scores, [0, 1, 1], k=1)
    0.6666666666666666
    >>> sim = np.array([[0.9, 0.5, 0.1], [0.1, 0.2, 0.3]])
    >>> recall_at_k(sim, [[0], [0, 1]], k=1)
    0.5
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openbind.errors import BadInput

Relevant = np.ndarray | Sequence[Sequence[int]] | Sequence[int]
"""Which candidates are correct for each query: a (Q, M) boolean matrix, one list of candidate
positions per query, or one position per query."""


# -- classification --------------------------------------------------------------------------------


def top_k_accuracy(scores: np.ndarray, labels: Sequence[int] | np.ndarray, k: int = 1) -> float:
    """The fraction of rows whose true class is among the k best scored (ties count against).

    Args:
        scores: (N, C) class scores (cosines, logits or probabilities).
        labels: N class positions in 0..C-1.
        k: how many top classes count as a hit.

    Raises:
        BadInput: shapes that do not match, labels out of range, k < 1, or no rows.
    """
    return float(_class_hits(scores, labels, k).mean())


def per_class_accuracy(
    scores: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    k: int = 1,
) -> np.ndarray:
    """Top-k accuracy of each class: (C,) floats, NaN for a class with no rows.

    Raises:
        BadInput: as `top_k_accuracy`.
    """
    hits = _class_hits(scores, labels, k)
    y = np.asarray(labels, dtype=np.int64)
    n_classes = np.asarray(scores).shape[1]
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    correct = np.bincount(y, weights=hits.astype(np.float64), minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, correct / np.maximum(counts, 1), np.nan)


def mean_per_class_accuracy(
    scores: np.ndarray, labels: Sequence[int] | np.ndarray, k: int = 1
) -> float:
    """The mean of `per_class_accuracy` over the classes that have rows (balanced accuracy)."""
    return float(np.nanmean(per_class_accuracy(scores, labels, k)))


def _class_hits(scores: np.ndarray, labels: Sequence[int] | np.ndarray, k: int) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] == 0:
        raise BadInput(f"scores must be a non-empty (N, C) matrix, got shape {s.shape}")
    if y.shape != (s.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise BadInput(f"labels must be {s.shape[0]} integers, got shape {y.shape} ({y.dtype})")
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise BadInput(f"labels must lie in 0..{s.shape[1] - 1}, got {y.min()}..{y.max()}")
    _check_k(k)
    true = s[np.arange(len(y)), y][:, None]  # (N, 1)
    others = (s >= true).sum(axis=1) - 1  # classes scored at least as high, besides the true one
    return others < k


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise BadInput(f"k must be an integer >= 1, got {k!r}")


# -- retrieval -------------------------------------------------------------------------------------


def relevance(relevant: Relevant, shape: tuple[int, int]) -> np.ndarray:
    """The (Q, M) boolean relevance matrix of `relevant` (see `Relevant`).

    Raises:
        BadInput: a matrix of another shape, a position out of range, or a query with no
            relevant candidate (its rank would be undefined).
    """
    q, m = shape
    if isinstance(relevant, np.ndarray) and relevant.ndim == 2:
        if relevant.shape != shape:
            raise BadInput(f"relevance matrix must have shape {shape}, got {relevant.shape}")
        rel = relevant.astype(bool)
    else:
        rows = list(relevant)
        if len(rows) != q:
            raise BadInput(f"relevant must list {q} queries, got {len(rows)}")
        rel = np.zeros(shape, dtype=bool)
        for i, row in enumerate(rows):
            positions = [row] if np.isscalar(row) else list(row)
            for j in positions:
                if not 0 <= int(j) < m:
                    raise BadInput(f"query {i}: relevant position {j} is not in 0..{m - 1}")
                rel[i, int(j)] = True
    empty = np.flatnonzero(~rel.any(axis=1))
    if len(empty):
        raise BadInput(f"query {int(empty[0])} has no relevant candidate ({len(empty)} such)")
    return rel


def ranks(sim: np.ndarray, relevant: Relevant) -> np.ndarray:
    """The 1-based rank of the best-placed relevant candidate of each query: (Q,) ints.

    A wrong candidate that ties with it is ranked before it.

    Raises:
        BadInput: `sim` is not a non-empty matrix, or `relevant` does not fit it (see `relevance`).
    """
    s = _sim(sim)
    rel = relevance(relevant, s.shape)
    best = np.where(rel, s, -np.inf).max(axis=1, keepdims=True)  # (Q, 1)
    wrong_above = ((s >= best) & ~rel).sum(axis=1)
    return (wrong_above + 1).astype(np.int64)


def recall_at_k(sim: np.ndarray, relevant: Relevant, k: int) -> float:
    """The fraction of queries with at least one relevant candidate in their top k (R@k).

    Args:
        sim: (Q, M) similarities of queries (rows) to candidates (columns).
        relevant: the correct candidates of each query (several allowed).
        k: cut-off.
    """
    _check_k(k)
    return float((ranks(sim, relevant) <= k).mean())


def median_rank(sim: np.ndarray, relevant: Relevant) -> float:
    """The median over queries of the rank of their first relevant candidate (1 is best)."""
    return float(np.median(ranks(sim, relevant)))


def mean_rank(sim: np.ndarray, relevant: Relevant) -> float:
    """The mean over queries of the rank of their first relevant candidate (1 is best)."""
    return float(ranks(sim, relevant).mean())


def average_precision(sim: np.ndarray, relevant: Relevant) -> np.ndarray:
    """Average precision of each query over all its relevant candidates: (Q,) floats.

    Candidates are taken best first; a wrong candidate that ties with a relevant one comes first.
    """
    s = _sim(sim)
    rel = relevance(relevant, s.shape)
    # Sort by score descending, relevant after wrong on ties (lexsort: last key is primary).
    order = np.lexsort((rel, -s), axis=1)
    hits = np.take_along_axis(rel, order, axis=1).astype(np.float64)  # (Q, M) in rank order
    precision = hits.cumsum(axis=1) / np.arange(1, s.shape[1] + 1)
    return (precision * hits).sum(axis=1) / hits.sum(axis=1)


def mean_average_precision(sim: np.ndarray, relevant: Relevant) -> float:
    """The mean of `average_precision` over queries (mAP).

    For multi-label classification (AudioSet's mAP is per class), pass the (N, C) scores and
    labels transposed: classes are then the queries and the items the candidates.
    """
    return float(average_precision(sim, relevant).mean())


def retrieval_metrics(sim: np.ndarray, relevant: Relevant, ks: Sequence[int] = (1, 5, 10)) -> dict:
    """R@k for each k, median and mean rank, and mAP of one retrieval direction, in percent
    (R@k, mAP) and ranks.

    Returns:
        {"R@1": ..., "R@5": ..., "median_rank": ..., "mean_rank": ..., "mAP": ...}.
    """
    s = _sim(sim)
    rel = relevance(relevant, s.shape)
    r = ranks(s, rel)
    out: dict[str, float] = {f"R@{k}": 100.0 * float((r <= k).mean()) for k in ks}
    out["median_rank"] = float(np.median(r))
    out["mean_rank"] = float(r.mean())
    out["mAP"] = 100.0 * mean_average_precision(s, rel)
    return out


def both_directions(
    sim: np.ndarray, relevant: Relevant, names: tuple[str, str], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, dict[str, float]]:
    """`retrieval_metrics` of both directions of one (A, B) similarity matrix.

    Args:
        sim: (A, B) similarities.
        relevant: the correct B items of each A item.
        names: the two sides, e.g. ("text", "audio").

    Returns:
        {"text->audio": {...}, "audio->text": {...}}.
    """
    s = _sim(sim)
    rel = relevance(relevant, s.shape)
    if not rel.any(axis=0).all():
        first = int(np.flatnonzero(~rel.any(axis=0))[0])
        raise BadInput(f"{names[1]} item {first} is relevant to no {names[0]} item")
    a, b = names
    return {
        f"{a}->{b}": retrieval_metrics(s, rel, ks),
        f"{b}->{a}": retrieval_metrics(s.T, rel.T, ks),
    }


def _sim(sim: np.ndarray) -> np.ndarray:
    s = np.asarray(sim, dtype=np.float64)
    if s.ndim != 2 or 0 in s.shape:
        raise BadInput(f"similarities must be a non-empty (Q, M) matrix, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise BadInput("similarities contain NaN or infinite values")
    return s
