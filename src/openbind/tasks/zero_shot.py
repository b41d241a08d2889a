"""Zero-shot classification of any modality against text labels (Radford et al., 2021).

Each class is embedded through its prompt templates, the unit prompt vectors are averaged and
renormalised, and inputs are scored against the class vectors by cosine similarity, optionally
scaled by the space's logit scale.

Example:
    >>> import openbind as ob
    >>> space = ob.load("starter")
    >>> result = zero_shot(space, ["chelsea.png"], ["dog", "cat"], modality="image")
    >>> result.labels
    ['cat']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from openbind.errors import BadInput
from openbind.space.convert import check_same_space
from openbind.space.protocol import Space
from openbind.tasks.templates import templates as stored_templates
from openbind.tasks.text_cache import text_cache
from openbind.types import Embeddings, Modality

ScoreKind = Literal["cosine", "logit"]


@dataclass(frozen=True)
class ZeroShotResult:
    """Scores of N inputs against C classes.

    Attributes:
        classes: the class labels, in column order.
        scores: (N, C) cosine similarities, or cosines times `logit_scale` if `score_kind` is "logit".
        probabilities: (N, C) softmax of `scores` over the classes.
        score_kind: "cosine" or "logit".
        logit_scale: the factor applied to cosines for logits (1.0 for "cosine").
    """

    classes: list[str]
    scores: torch.Tensor
    probabilities: torch.Tensor
    score_kind: ScoreKind
    logit_scale: float

    @property
    def labels(self) -> list[str]:
        """The most probable class of each input."""
        return [self.classes[i] for i in self.scores.argmax(dim=1).tolist()]

    def top(self, k: int = 5) -> list[list[tuple[str, float]]]:
        """Per input, the k most probable (class, probability) pairs, best first."""
        if k < 1:
            raise BadInput(f"k must be >= 1, got {k}")
        values, indices = self.probabilities.topk(min(k, len(self.classes)), dim=1)
        return [
            [(self.classes[i], p) for i, p in zip(row_i, row_p, strict=True)]
            for row_i, row_p in zip(indices.tolist(), values.tolist(), strict=True)
        ]


def class_embeddings(
    space: Space,
    classes: Sequence[str],
    modality: Modality | str = Modality.IMAGE,
    templates: str | Sequence[str] = "default",
) -> Embeddings:
    """Text embeddings (C, D) of the classes, averaged over the prompt templates.

    Prompts go through the space's `text_cache`: a label set is embedded once per space.

    Args:
        space: a space with a text tower.
        classes: class labels, e.g. ["dog", "cat"].
        modality: the modality the classes describe (selects the stored templates).
        templates: a stored template set name (see `openbind.tasks.templates`) or the templates
            themselves, each with one "{}".

    Raises:
        BadInput: no classes, an empty or duplicate class, or a template without "{}".
    """
    classes = _check_classes(classes)
    prompts = (
        stored_templates(modality, templates) if isinstance(templates, str) else tuple(templates)
    )
    if not prompts or any("{}" not in p for p in prompts):
        raise BadInput(f"templates must be non-empty and each contain '{{}}', got {list(prompts)}")
    sentences = [p.format(c) for c in classes for p in prompts]
    text = _encode_prompts(space, sentences)
    per_class = text.vectors.view(len(classes), len(prompts), -1).mean(1)  # (C, D)
    return Embeddings(F.normalize(per_class, dim=-1), Modality.TEXT, text.model_id)


def zero_shot(
    space: Space,
    inputs: Sequence[Any] | Embeddings,
    classes: Sequence[str] | Embeddings,
    modality: Modality | str = Modality.IMAGE,
    *,
    templates: str | Sequence[str] = "default",
    score: ScoreKind = "logit",
    class_names: Sequence[str] | None = None,
) -> ZeroShotResult:
    """Classify inputs of `modality` against text classes.

    Args:
        space: the space to embed with.
        inputs: items of `modality` (paths, bytes, arrays, ...) or their `Embeddings`.
        classes: labels, or class embeddings from `class_embeddings` (then give `class_names`).
        modality: what the inputs are.
        templates: stored template set name or the templates (see `class_embeddings`).
        score: "logit" scales cosines by the space's logit scale for `modality`; "cosine" keeps them.
        class_names: labels of precomputed class embeddings.

    Raises:
        BadInput: empty inputs or classes, or an unknown score kind.
        SpaceMismatch: input and class embeddings come from different spaces.
        MissingModality: the space has no tower for `modality` or for text.
    """
    m = Modality.parse(modality)
    if score not in ("cosine", "logit"):
        raise BadInput(f"score must be 'cosine' or 'logit', got {score!r}")
    if isinstance(classes, Embeddings):
        names = list(class_names or [])
        if len(names) != len(classes):
            raise BadInput(
                f"{len(classes)} class embeddings need as many class_names, got {len(names)}"
            )
        class_emb = classes
    else:
        names = _check_classes(classes)
        class_emb = class_embeddings(space, names, m, templates)
    if not isinstance(inputs, Embeddings):
        if len(inputs) == 0:
            raise BadInput(f"no {m.value} inputs to classify")
        inputs = space.encode(m, inputs)
    if len(inputs) == 0:
        raise BadInput(f"no {m.value} inputs to classify")
    check_same_space(inputs, class_emb)
    scale = space.logit_scale(m) if score == "logit" else 1.0
    scores = (inputs.vectors @ class_emb.vectors.T) * scale  # (N, C)
    return ZeroShotResult(names, scores, scores.softmax(dim=1), score, scale)


def _encode_prompts(space: Space, sentences: list[str]) -> Embeddings:
    """Through the space's `text_cache` (prompts seen before are not embedded again), or directly
    for a space that cannot be weakly referenced."""
    try:
        cache = text_cache(space)
    except TypeError:
        return space.encode(Modality.TEXT, sentences)
    return cache.encode(sentences)


def _check_classes(classes: Sequence[str]) -> list[str]:
    if isinstance(classes, str):
        raise BadInput(f"classes must be a list of labels, got the string {classes!r}")
    names = list(classes)
    if not names:
        raise BadInput("no class labels given")
    bad = [c for c in names if not isinstance(c, str) or not c.strip()]
    if bad:
        raise BadInput(f"class labels must be non-empty strings, got {bad}")
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise BadInput(f"duplicate class labels: {dupes}")
    return names
