"""The framework-free service behind the HTTP API: embed, search, classify, models, health.

`Service` holds one `SpaceModel`, an optional indexed `Library` and named label sets. Its async
methods share a `Batcher`, so concurrent requests are embedded together in one forward pass per
modality. Any web framework (or none) can sit on top; `openbind.serve.app` is the FastAPI one.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from openbind.errors import BadInput, MissingModality
from openbind.index import Hit, Library
from openbind.limits import MAX_LABELS, MAX_QUERY_PARTS
from openbind.serve.batching import Batcher, BatchStats
from openbind.serve.inputs import InputError, QueryPart
from openbind.space.model import EncodeReport, SpaceModel
from openbind.tasks import class_embeddings, compose, zero_shot
from openbind.types import Embeddings, Modality

DEFAULT_LABELS = (
    "a person",
    "a cat",
    "a dog",
    "a bird",
    "a cup of coffee",
    "a rocket",
    "a motorcycle",
    "a car",
    "a building",
    "a landscape",
    "music",
    "speech",
    "noise",
)
"""The label set used when a classify request gives none."""
MAX_WEIGHT = 1e6
"""Largest weight (in absolute value) of a query part: larger ones overflow float32 sums."""


@dataclass(frozen=True)
class SearchHit:
    """One search result.

    Attributes:
        id: the item's id in the library.
        score: cosine similarity between the query and the item (higher is closer).
        path: the indexed file.
        modality: the item's modality.
        media_url: where the HTTP API serves the file (`/media/{id}`).
        metadata: whatever the library stored with the item.
    """

    id: int
    score: float
    path: str
    modality: Modality
    media_url: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelScore:
    """A zero-shot label of an input.

    Attributes:
        label: the label text.
        probability: softmax over the labels of the logit-scaled cosine similarities.
        score: cosine similarity between the input and the label (through its prompt templates).
    """

    label: str
    probability: float
    score: float


@dataclass(frozen=True)
class ModelInfo:
    """The space a service runs: id, dimension and the modalities it embeds."""

    id: str
    dim: int
    modalities: tuple[Modality, ...]


@dataclass(frozen=True)
class Health:
    """Liveness and what is loaded.

    Attributes:
        status: "ok".
        model: the space's model id.
        modalities: what it embeds.
        library: the library's name, or None when no index is served.
        items: how many items the library holds (0 without one).
        batches: dynamic-batching counters.
    """

    status: str
    model: str
    modalities: tuple[Modality, ...]
    library: str | None
    items: int
    batches: BatchStats


class Service:
    """Embedding, search and zero-shot classification over one space.

    Args:
        space: the embedding space.
        library: an indexed media library to search and serve files from (optional).
        label_sets: named label lists for `classify`; "default" is used when none is named.
        max_batch_items: items per merged forward pass.
        max_wait_ms: how long a request waits for others to share its forward pass.
        timeout_s: time budget of one embedding (and of one label list's embeddings); past it
            the request gets `RequestTimeout` (see `openbind.serve.batching`).
        max_labels: labels per `classify` request (`openbind.limits.MAX_LABELS`).
        max_query_parts: parts per `search` query (`openbind.limits.MAX_QUERY_PARTS`).

    Example:
        >>> service = Service(openbind.load("starter"))
        >>> emb = await service.embed("text", ["a dog barking"])
        >>> labels = await service.classify(QueryPart(Modality.IMAGE, png_bytes, "file"))
    """

    def __init__(
        self,
        space: SpaceModel,
        library: Library | None = None,
        *,
        label_sets: Mapping[str, Sequence[str]] | None = None,
        max_batch_items: int = 64,
        max_wait_ms: float = 5.0,
        timeout_s: float | None = 60.0,
        max_labels: int = MAX_LABELS,
        max_query_parts: int = MAX_QUERY_PARTS,
    ) -> None:
        self.space = space
        self.library = library
        self.label_sets = {
            "default": tuple(DEFAULT_LABELS),
            **{k: tuple(v) for k, v in (label_sets or {}).items()},
        }
        self._batcher = Batcher(
            self._encode, max_items=max_batch_items, max_wait_ms=max_wait_ms, timeout_s=timeout_s
        )
        self.max_labels, self.max_query_parts = max_labels, max_query_parts
        self._label_cache: dict[tuple[Modality | str, ...], Embeddings] = {}

    @property
    def model_id(self) -> str:
        return self.space.model_id

    # -- endpoints -------------------------------------------------------------------------------

    async def embed(self, modality: Modality | str, items: Sequence[Any]) -> Embeddings:
        """Embed `items` of one modality (strings for text, file bytes otherwise).

        Raises:
            InputError: an item cannot be embedded (field "input[i]") or the modality is not
                one the space has (field "modality").
        """
        m = self._modality(modality)
        try:
            return await self._batcher.submit(m, items)
        except BadInput as e:
            raise _name_input(e, "input") from None

    async def search(
        self, parts: Sequence[QueryPart], *, k: int = 10, modality: Modality | str | None = None
    ) -> list[SearchHit]:
        """The `k` library items closest to the weighted combination of `parts`.

        Args:
            parts: query inputs (text and/or media); their unit embeddings are summed with
                their weights and renormalised.
            k: how many hits.
            modality: only return items of this modality.

        Raises:
            InputError: no library, no parts, a bad part or weight (the field is named).
        """
        if self.library is None:
            raise InputError("index", "this server has no index to search; start it with --index")
        if not parts:
            raise InputError("text", "give a text query and/or a file to search with")
        if len(parts) > self.max_query_parts:
            raise InputError(
                "file", f"has {len(parts)} query parts; at most {self.max_query_parts}"
            )
        if not 1 <= k <= 1000:
            raise InputError("k", f"must be between 1 and 1000, got {k}")
        only = self._filter_modality(modality)
        query = await self._compose(parts)
        hits = await asyncio.to_thread(self.library.search, query, k, modality=only)
        return [_hit(h) for h in hits]

    async def classify(
        self, part: QueryPart, labels: Sequence[str] | None = None, *, label_set: str = "default"
    ) -> list[LabelScore]:
        """Zero-shot labels of one input, most probable first.

        Args:
            part: the input (any modality the space has).
            labels: candidate labels; default: the named `label_set`.
            label_set: which of `label_sets` to use when `labels` is not given.

        Raises:
            InputError: empty labels, unknown label set, or an input that cannot be embedded.
        """
        names = self._labels(labels, label_set)
        item = await self._embed_part(part)
        m = item.modality
        classes = await self._class_embeddings(names, m)
        result = zero_shot(self.space, item, classes, m, class_names=names)
        probs, scores = result.probabilities[0], result.scores[0] / result.logit_scale
        order = torch.argsort(probs, descending=True).tolist()
        return [LabelScore(names[i], float(probs[i]), float(scores[i])) for i in order]

    def models(self) -> list[ModelInfo]:
        """The space this service runs (one entry)."""
        return [ModelInfo(self.model_id, self.space.dim, self.space.modalities)]

    def health(self) -> Health:
        """Status, model and library counts."""
        name = None if self.library is None else self.library.path.name
        items = 0 if self.library is None else len(self.library)
        return Health("ok", self.model_id, self.space.modalities, name, items, self._batcher.stats)

    def media_path(self, item_id: int) -> Path:
        """The file of library item `item_id`, if it lies inside one of the indexed roots.

        Raises:
            InputError: no library, unknown id, or a file outside the indexed roots (all three
                are reported the same way, as "not found").
        """
        not_found = InputError("id", "no such media")
        if self.library is None:
            raise not_found
        try:
            (record,) = self.library.get([item_id])
        except BadInput:
            raise not_found from None
        roots = [Path(r).resolve() for r in self.library.manifest.roots]
        path = Path(record.path)
        candidates = [path] if path.is_absolute() else [root / path for root in roots]
        for candidate in candidates:
            resolved = candidate.resolve()  # follows symlinks: a link out of a root is refused
            if resolved.is_file() and any(resolved.is_relative_to(root) for root in roots):
                return resolved
        raise not_found

    async def aclose(self) -> None:
        """Stop the batching workers."""
        await self._batcher.close()

    # -- internals -------------------------------------------------------------------------------

    def _encode(self, modality: Modality, items: list[Any]) -> EncodeReport:
        return self.space.encode_report(
            modality, items, batch_size=max(1, len(items)), progress=False
        )

    def _modality(self, modality: Modality | str) -> Modality:
        try:
            m = Modality.parse(modality)
        except BadInput as e:
            raise InputError("modality", str(e)) from None
        if m not in self.space.modalities:
            have = ", ".join(x.value for x in self.space.modalities)
            raise InputError(
                "modality", f"{self.model_id} cannot embed {m.value}; it embeds: {have}"
            )
        return m

    def _filter_modality(self, modality: Modality | str | None) -> Modality | None:
        if modality is None or modality == "":
            return None
        try:
            return Modality.parse(modality)
        except BadInput as e:
            raise InputError("modality", str(e)) from None

    def _labels(self, labels: Sequence[str] | None, label_set: str) -> list[str]:
        if labels is None:
            if label_set not in self.label_sets:
                known = ", ".join(sorted(self.label_sets))
                raise InputError("label_set", f"unknown label set {label_set!r}; known: {known}")
            return list(self.label_sets[label_set])
        names = list(dict.fromkeys(x.strip() for x in labels if x.strip()))
        if len(names) < 2:
            raise InputError("labels", "give at least two distinct non-empty labels")
        if len(names) > self.max_labels:
            raise InputError("labels", f"has {len(names)} labels; at most {self.max_labels}")
        return names

    async def _embed_part(self, part: QueryPart) -> Embeddings:
        m = Modality.parse(part.modality)
        if m not in self.space.modalities:
            have = ", ".join(x.value for x in self.space.modalities)
            raise InputError(
                part.field, f"is {m.value}, which {self.model_id} cannot embed; it embeds: {have}"
            )
        try:
            return await self._batcher.submit(m, [part.item])
        except MissingModality as e:
            raise InputError("modality", str(e)) from None
        except BadInput as e:
            reason = str(e).split(": ", 1)[-1]
            raise InputError(part.field, f"cannot embed this {m.value} input: {reason}") from None

    async def _compose(self, parts: Sequence[QueryPart]) -> Embeddings:
        for p in parts:
            if not math.isfinite(p.weight) or abs(p.weight) > MAX_WEIGHT:
                raise InputError(
                    "weights", f"weight of {p.field} is not a number between -1e6 and 1e6"
                )
        embeddings = await asyncio.gather(*(self._embed_part(p) for p in parts))
        try:
            return compose(embeddings, [p.weight for p in parts])
        except BadInput as e:
            raise InputError("weights", str(e)) from None

    async def _class_embeddings(self, labels: list[str], modality: Modality) -> Embeddings:
        """Label embeddings through the modality's prompt templates, cached per label list."""
        key = (modality, *labels)
        cached = self._label_cache.get(key)
        if cached is None:
            cached = await self._batcher.run(
                class_embeddings, self.space, labels, modality, what="embedding the labels"
            )
            if len(self._label_cache) >= 256:
                self._label_cache.pop(next(iter(self._label_cache)))
            self._label_cache[key] = cached
        return cached


def _name_input(error: BadInput, field: str) -> InputError:
    """Turn the batcher's "input 2: reason" into an error for field "input[2]"."""
    message = str(error)
    head, _, reason = message.partition(": ")
    if head.startswith("input ") and head[6:].isdigit():
        return InputError(f"{field}[{head[6:]}]", reason)
    return InputError(field, message)


def _hit(h: Hit) -> SearchHit:
    return SearchHit(
        id=int(h.id),
        score=float(h.score),
        path=str(h.path),
        modality=h.modality,
        media_url=f"/media/{int(h.id)}",
        metadata=dict(h.metadata),
    )
