"""Cross-modal retrieval, both directions: captions <-> audio / video / images, and emergent
pairs of two non-text modalities (image <-> thermal on LLVIP, image <-> depth on NYU-D) that a
space never saw paired in training when it was bound through a third one (ImageBind, section 4.2).

Every item of side B is a candidate for the A->B queries; B->A queries are the B items that have
at least one matching A item. Items a space refuses are dropped with their pairs and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openbind.errors import BadInput
from openbind.eval import metrics
from openbind.eval.cache import CachedEncoder
from openbind.eval.common import encoder_for, finish, refused, tally
from openbind.eval.data import Dataset, Pairs
from openbind.eval.report import EvalReport
from openbind.space.protocol import Space
from openbind.types import Modality

CURVE_MAX = 50
"""Recall curves (for plots) go up to R@50."""


def retrieval(
    space: Space,
    data: Dataset,
    *,
    pair: str | None = None,
    encoder: CachedEncoder | None = None,
    cache_dir: str | Path | None = None,
    ks: Sequence[int] = (1, 5, 10),
    seed: int = 0,
) -> EvalReport:
    """R@k, median and mean rank and mAP of `space` on the retrieval parts of `data`.

    Args:
        space: any `openbind.Space` with towers for both sides.
        data: a dataset with retrieval pairs (`load_dataset(...)`).
        pair: evaluate only this part ("text-audio", "image-thermal"; default: every part the
            space has towers for).
        encoder, cache_dir, ks, seed: as in `openbind.eval.zero_shot`.

    Raises:
        BadInput: no retrieval part (or none for `pair`, or none the space can embed).
    """
    parts = _parts(space, data, pair)
    enc = encoder_for(space, encoder, cache_dir)
    before = tally(enc)
    out: dict[str, float] = {}
    curves: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    keys: list[str] = []
    warnings: list[str] = []
    for p in parts:
        a, b = enc.encode(p.a_modality, p.a), enc.encode(p.b_modality, p.b)
        keys += a.keys + b.keys
        for m, e in ((p.a_modality, a), (p.b_modality, b)):
            warnings += refused(e, f"{p.name} {m.value}")
            counts[f"{p.name} refused {m.value}"] = len(e.errors)
        rel = _relevance(p, a.kept, b.kept)  # (A kept, B kept)
        queries = rel.any(axis=1)
        if not queries.any():
            raise BadInput(f"{data.name} {p.name}: no pair left after refused items")
        sim = a.vectors[queries] @ b.vectors.T  # (Q, B)
        names = (p.a_modality.value, p.b_modality.value)
        directions = {f"{names[0]}->{names[1]}": (sim, rel[queries])}
        candidates = rel[queries].any(axis=0)
        directions[f"{names[1]}->{names[0]}"] = (sim.T[candidates], rel[queries].T[candidates])
        for name, (s, r) in directions.items():
            for metric, value in metrics.retrieval_metrics(s, r, ks).items():
                out[f"{name} {metric}"] = round(value, 2)
            ranks = metrics.ranks(s, r)
            top = min(CURVE_MAX, s.shape[1])
            curves[name] = [round(100.0 * float((ranks <= k).mean()), 2) for k in range(1, top + 1)]
            counts[f"{name} queries"] = int(s.shape[0])
            counts[f"{name} candidates"] = int(s.shape[1])
    emergent = [p.name for p in parts if Modality.TEXT not in (p.a_modality, p.b_modality)]
    return finish(
        "retrieval",
        data,
        enc,
        keys,
        metrics=out,
        curves=curves,
        counts=counts,
        settings={
            "pairs": [p.name for p in parts],
            "emergent": emergent,
            "ks": list(ks),
            "seed": seed,
        },
        warnings=warnings,
        before=before,
    )


def _parts(space: Space, data: Dataset, pair: str | None) -> list[Pairs]:
    if not data.retrieval:
        raise BadInput(f"{data.name} ({data.layout}) has no retrieval pairs; run zero-shot on it")
    names = [p.name for p in data.retrieval]
    parts = list(data.retrieval)
    if pair is not None:
        flipped = "-".join(reversed(pair.split("-")))
        parts = [p for p in parts if p.name in (pair, flipped)]
        if not parts:
            raise BadInput(f"{data.name} has no {pair!r} pairs; it has: {', '.join(names)}")
    have = set(space.modalities)
    usable = [p for p in parts if p.a_modality in have and p.b_modality in have]
    if not usable:
        towers = ", ".join(m.value for m in space.modalities)
        raise BadInput(f"{space.model_id} (towers: {towers}) can embed none of the pairs {names}")
    return usable


def _relevance(p: Pairs, a_kept: list[int], b_kept: list[int]) -> np.ndarray:
    """(len(a_kept), len(b_kept)) matches among the items that were encoded."""
    col = {j: c for c, j in enumerate(b_kept)}
    rel = np.zeros((len(a_kept), len(b_kept)), dtype=bool)
    for r, i in enumerate(a_kept):
        for j in p.matches[i]:
            if j in col:
                rel[r, col[j]] = True
    return rel
