"""Zero-shot classification of a benchmark with prompt-template ensembles.

Each class name goes through every template of the set (CLIP's 80 ImageNet prompts, the
Kinetics, ESC-50, NYU-D or LLVIP sets of the papers; `openbind.tasks.templates`); the unit prompt
vectors are averaged and renormalised (Radford et al., 2021, arXiv:2103.00020, section 3.1.4),
and items are scored with `openbind.tasks.zero_shot`. Items and prompts are encoded through the
cache, so another template set re-encodes only the prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openbind.errors import BadInput
from openbind.eval import metrics
from openbind.eval.cache import CachedEncoder
from openbind.eval.common import encoder_for, finish, need, refused, tally
from openbind.eval.data import Dataset
from openbind.eval.report import EvalReport, per_class_percent, percent
from openbind.space.convert import from_numpy
from openbind.space.protocol import Space
from openbind.tasks import templates as stored_templates
from openbind.tasks import zero_shot as classify
from openbind.types import Modality


def resolve_templates(
    modality: Modality, templates: str | Sequence[str] | None, default: str
) -> tuple[str, list[str]]:
    """(name, templates) of a stored set name, an explicit list, or the benchmark's default."""
    if templates is None or isinstance(templates, str):
        name = templates or default
        return name, list(stored_templates(modality, name))
    prompts = list(templates)
    if not prompts or any("{}" not in p for p in prompts):
        raise BadInput(f"templates must be non-empty and each contain '{{}}', got {prompts}")
    return "custom", prompts


def zero_shot(
    space: Space,
    data: Dataset,
    *,
    templates: str | Sequence[str] | None = None,
    encoder: CachedEncoder | None = None,
    cache_dir: str | Path | None = None,
    ks: Sequence[int] = (1, 5),
    seed: int = 0,
) -> EvalReport:
    """Top-k and per-class accuracy of `space` on the classification part of `data`.

    Args:
        space: any `openbind.Space` with a text tower and one for the data's modality.
        data: a dataset with class labels (`load_dataset(...)`).
        templates: a stored template set name, the templates themselves, or None for the
            benchmark's own set.
        encoder: a `CachedEncoder` to share between runs (default: a new one over `cache_dir`).
        cache_dir: where embeddings are cached (None: memory only).
        ks: the top-k accuracies to report (k larger than the class count is left out).
        seed: recorded only (zero-shot is deterministic).

    Raises:
        BadInput: the dataset has no class labels, no item could be encoded, or bad templates.
        MissingModality: the space cannot embed the data's modality or text.
    """
    clf = data.classification
    if clf is None:
        raise BadInput(f"{data.name} ({data.layout}) has no class labels; run retrieval on it")
    need(space, clf.modality, Modality.TEXT)
    enc = encoder_for(space, encoder, cache_dir)
    before = tally(enc)
    test = clf.subset(clf.test_rows())
    name, prompts = resolve_templates(clf.modality, templates, clf.templates)
    items = enc.encode(clf.modality, test.items)
    if not items.kept:
        first = items.errors[0] if items.errors else None
        raise BadInput(
            f"no {clf.modality.value} item of {data.name} could be encoded; first: {first}"
        )
    sentences = [p.format(c) for c in clf.classes for p in prompts]
    text = enc.encode("text", sentences)
    if text.errors:
        raise BadInput(f"a prompt could not be encoded: {text.errors[0]}")
    per_prompt = text.vectors.reshape(len(clf.classes), len(prompts), -1)  # (C, T, D)
    class_vecs = per_prompt.mean(axis=1)  # (C, D), renormalised by from_numpy
    result = classify(
        space,
        from_numpy(items.vectors, clf.modality, space.model_id),
        from_numpy(class_vecs, "text", space.model_id),
        clf.modality,
        class_names=list(clf.classes),
    )
    scores = result.scores.numpy()
    labels = np.asarray([test.labels[i] for i in items.kept])
    out = {
        f"top{k}": percent(metrics.top_k_accuracy(scores, labels, k))
        for k in ks
        if k <= len(clf.classes)
    }
    out["mean_per_class"] = percent(metrics.mean_per_class_accuracy(scores, labels))
    per_class = metrics.per_class_accuracy(scores, labels)
    return finish(
        "zero-shot",
        data,
        enc,
        items.keys,
        metrics=out,
        per_class=per_class_percent(clf.classes, per_class),
        counts={
            "evaluated": len(items.kept),
            "refused": len(items.errors),
            "templates": len(prompts),
        },
        settings={
            "modality": clf.modality.value,
            "templates": name,
            "template_list": prompts,
            "score": f"{result.score_kind} (logit scale {result.logit_scale:g})",
            "seed": seed,
        },
        warnings=refused(items),
        before=before,
    )
