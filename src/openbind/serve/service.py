"""The framework-free service behind the HTTP API: embed, search, classify, models, health.

`Service` holds one `openbind.Space`, an optional indexed `Library` and named label sets. Its
async methods share a `Batcher`, so concurrent requests are embedded together in one forward pass
per modality. Any web framework (or none) can sit on top; `openbind.serve.app` is the FastAPI one.

Errors are typed: a request field that cannot be used is an `InputError` naming the field, an
unknown library item is `openbind.errors.UnknownId`; the HTTP layer maps types to statuses.

Live updates: before every search, media lookup and health check the service asks the library
for a newer committed generation (`Library.reload`, one small file read when nothing changed), so
a commit made by `openbind index update` or `openbind index watch` is served by the next request;
a search already running finishes on the generation it started on.
"""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from openbind.errors import BadInput, MissingModality, UnknownId
from openbind.index import Filter, Hit, Library
from openbind.limits import MAX_LABELS, MAX_QUERY_PARTS
from openbind.serve.batching import Batcher, BatchStats
from openbind.serve.inputs import InputError, QueryPart
from openbind.space.protocol import EncodeReport, Space
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

BIG_JSON = 1 << 20
"""Request bodies larger than this (bytes) are read and embedded whole in the heavy worker
process (`Service.read_request`)."""

MAX_K, MAX_OFFSET = 1000, 100_000
"""Most hits per page, and the deepest rank a page may start at."""


@dataclass(frozen=True)
class SearchPage:
    """One page of search results.

    Attributes:
        hits: the hits, best first; `path` is relative to the indexed folder it lies in (the
            server's own folders are never shown), the file is served at `/media/{id}`.
        total: how many items meet the filters (what `offset` pages through).
        offset: rank of the first hit.
        generation: the library generation that answered.
    """

    hits: list[Hit]
    total: int
    offset: int
    generation: int


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
        generation: the library generation served (0 without one).
        batches: dynamic-batching counters.
    """

    status: str
    model: str
    modalities: tuple[Modality, ...]
    library: str | None
    items: int
    generation: int
    batches: BatchStats


def _part_error(part: QueryPart, reason: str) -> InputError:
    return InputError(part.field, f"cannot embed this {part.modality.value} input: {reason}")


T = TypeVar("T")


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
        processes: run the model in worker processes forked from this one instead of threads
            of this process (see `openbind.serve.batching`): short texts in `model_workers`
            at normal priority, and media, long texts, label lists and large bodies in one at
            nice 19 in the idle scheduling class with one torch thread. Call `start` before serving, so
            the forks happen before the server's threads run.
        model_workers: worker processes that embed short texts, each one batch at a time
            (with `processes`; else one model thread). Each makes its own packed copy of the
            weights it runs (the text tower, usually) at its first batch.
        model_threads: torch threads of each of them. One by default: on a busy machine a
            forward pass on two threads waits at every op for the thread that lost its core
            (27 ms became 95 ms at the median while cheap requests flooded in), and two workers
            of one thread each give the same throughput when idle. More than one only if
            this process has not run torch on several threads before `start` (GNU OpenMP's
            thread pool does not survive a fork: the worker would hang); `openbind serve`
            loads the space with one thread for that reason.

    Example:
        >>> service = Service(openbind.load("starter"))
        >>> emb = await service.embed("text", ["a dog barking"])
        >>> labels = await service.classify(QueryPart(Modality.IMAGE, png_bytes, "file"))
    """

    def __init__(
        self,
        space: Space,
        library: Library | None = None,
        *,
        label_sets: Mapping[str, Sequence[str]] | None = None,
        max_batch_items: int = 64,
        max_wait_ms: float = 5.0,
        timeout_s: float | None = 60.0,
        max_labels: int = MAX_LABELS,
        max_query_parts: int = MAX_QUERY_PARTS,
        processes: bool = True,
        model_workers: int = 2,
        model_threads: int = 1,
    ) -> None:
        self.space = space
        self.library = library
        self.label_sets = {
            "default": tuple(DEFAULT_LABELS),
            **{k: tuple(v) for k, v in (label_sets or {}).items()},
        }
        if model_workers < 1 or model_threads < 1:
            raise ValueError(
                f"model_workers and model_threads must be at least 1, got {model_workers} "
                f"and {model_threads}"
            )
        self._batcher = Batcher(
            self._encode,
            max_items=max_batch_items,
            max_wait_ms=max_wait_ms,
            timeout_s=timeout_s,
            processes=processes,
            light_workers=model_workers if processes else 1,
            light_threads=model_threads,
            jobs={"labels": self._label_embeddings, "request": self._read_and_embed},
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
        m = self.check_modality(modality)
        try:
            return await self._batcher.submit(m, items)
        except MissingModality as e:
            raise InputError("modality", str(e)) from None
        except BadInput as e:
            field = "input" if e.index is None else f"input[{e.index}]"
            raise InputError(field, e.reason) from None

    async def embed_parts(self, parts: Sequence[QueryPart]) -> Embeddings:
        """The embeddings of query parts of one modality, a row each, embedded together
        (as `embed`), or as `read_request` embedded them already.

        Raises:
            InputError: as `embed`.
        """
        if parts and all(isinstance(p.item, Embeddings) for p in parts):
            rows = torch.cat([p.item.vectors for p in parts])
            return Embeddings(rows, parts[0].modality, self.model_id)
        return await self.embed(parts[0].modality, [p.item for p in parts])

    async def search(
        self,
        parts: Sequence[QueryPart] = (),
        *,
        vector: Any = None,
        vector_weight: float = 1.0,
        k: int = 10,
        offset: int = 0,
        modality: Modality | str | None = None,
        filter: Filter | Mapping[str, Any] | Sequence[str] | None = None,
    ) -> SearchPage:
        """The `k` library items closest to the weighted combination of `parts` and `vector`.

        Args:
            parts: query inputs (text and/or media); their unit embeddings are summed with
                their weights and renormalised.
            vector: a raw query vector of the space's dimension (added with `vector_weight`).
            vector_weight: its share in a composed query.
            k: how many hits (1-1000).
            offset: rank of the first hit (pagination).
            modality: only return items of this modality.
            filter: only items meeting this `openbind.index.Filter` (or its mapping/expressions).

        Raises:
            InputError: no library, no query, or a bad part, weight, vector, filter or offset
                (the field is named).
        """
        library = self._library("index")
        if not parts and vector is None:
            raise InputError("text", "give a text query, a file or a vector to search with")
        if len(parts) > self.max_query_parts:
            raise InputError(
                "file", f"has {len(parts)} query parts; at most {self.max_query_parts}"
            )
        if not 1 <= k <= MAX_K:
            raise InputError("k", f"must be between 1 and {MAX_K}, got {k}")
        if not 0 <= offset <= MAX_OFFSET:
            raise InputError("offset", f"must be between 0 and {MAX_OFFSET}, got {offset}")
        only = self._filter_modality(modality)
        try:
            where = Filter.parse(filter)
        except BadInput as e:
            raise InputError(e.source or "filter", e.reason) from None
        embedded = [await self._compose(parts)] if parts else []
        weights = [1.0] if parts else []
        if vector is not None:
            embedded.append(self._vector(vector))
            weights.append(vector_weight)
        try:
            query = compose(embedded, weights) if len(embedded) > 1 else embedded[0]
        except BadInput as e:
            raise InputError("weights", e.reason) from None
        await asyncio.to_thread(library.reload)
        try:
            hits, total, generation = await asyncio.to_thread(
                self._search, library, query, k, offset, only, where
            )
        except BadInput as e:
            raise InputError(e.source or "query", e.reason) from None
        return SearchPage([self._shown(h, library) for h in hits], total, offset, generation)

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
        names = self.label_names(labels, label_set)
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
        """Status, model, library counts and generation (switching to a newer one first)."""
        lib = self.library
        if lib is None:
            return Health(
                "ok", self.model_id, self.space.modalities, None, 0, 0, self._batcher.stats
            )
        lib.reload()
        return Health(
            "ok",
            self.model_id,
            self.space.modalities,
            lib.path.name,
            len(lib),
            lib.manifest.generation,
            self._batcher.stats,
        )

    def media_path(self, item_id: int) -> Path:
        """The file of library item `item_id`, if it lies inside one of the indexed roots.

        Raises:
            UnknownId: no library, an unknown or removed id, or a file outside the indexed roots
                (all are reported the same way).
        """
        if self.library is None or item_id < 0:
            raise UnknownId(item_id)
        self.library.reload()
        (record,) = self.library.get([item_id])
        roots = [Path(r).resolve() for r in self.library.manifest.roots]
        path = Path(record.path)
        candidates = [path] if path.is_absolute() else [root / path for root in roots]
        for candidate in candidates:
            resolved = candidate.resolve()  # follows symlinks: a link out of a root is refused
            if resolved.is_file() and any(resolved.is_relative_to(root) for root in roots):
                return resolved
        raise UnknownId(item_id)

    async def read_request(
        self, raw: bytes, read: Callable[[Service, bytes], tuple[T, list[QueryPart]]]
    ) -> tuple[T, list[QueryPart]]:
        """A request body read by `read(service, raw)`: a value and the query parts it holds.

        A body over `BIG_JSON` bytes is handled whole by the heavy worker process: it parses
        and checks the body, decodes its media and embeds its parts, and only the value and the
        parts' vectors come back (each part's `item` is then its `Embeddings`, which `embed`,
        `search` and `classify` take as they are). So a 20 MB body costs this process only
        its receiving: one `json.loads` of it holds the GIL for 40-90 ms, decoding its base64
        takes 0.1-0.2 s more, and every other request of this process would wait.

        `read` must be a module-level function (it is sent to the worker by name) that raises
        typed errors (`InputError`, ...) and returns a value without the body's large fields.

        Raises:
            whatever `read` raises; InputError: a part cannot be embedded (its field named);
            RequestTimeout: the worker did not finish within the time budget.
        """
        if len(raw) <= BIG_JSON:
            return read(self, raw)
        if not self._batcher.processes:
            return await asyncio.to_thread(read, self, raw)
        value, parts = await self._batcher.run("request", raw, read, what="the request")
        return value, [replace(p, item=self._embedded(p)) for p in parts]

    def start(self) -> None:
        """Get ready to serve: freeze the loaded objects and start the heavy workers.

        Everything alive now (the model, its modules, the libraries) is moved out of the
        garbage collector's reach (`gc.freeze`): none of it is garbage, and a full collection
        walking it held the GIL for about a second with the starter space loaded, stalling
        every request. Then the heavy worker process is forked (optional: else at the first
        heavy request); it shares the frozen objects' memory pages.

        Call it while no other thread of the process starts subprocesses: a fork in the middle
        of another thread's `subprocess.Popen` hands the worker that launch's exec pipe, and
        the launch then waits for the worker to exit.
        """
        gc.collect()
        gc.freeze()
        self._batcher.start()

    async def aclose(self) -> None:
        """Stop the batching workers."""
        await self._batcher.close()

    # -- internals -------------------------------------------------------------------------------

    def _encode(self, modality: Modality, items: list[Any]) -> EncodeReport:
        return self.space.encode_report(
            modality, items, batch_size=max(1, len(items)), progress=False
        )

    def _read_and_embed(
        self, raw: bytes, read: Callable[[Service, bytes], tuple[T, list[QueryPart]]]
    ) -> tuple[T, list[QueryPart]]:
        """`read_request` in the heavy worker: the parts come back with their vectors (numpy
        rows) as items, grouped into one encode call per modality."""
        value, parts = read(self, raw)
        groups: dict[Modality, list[int]] = {}
        for i, part in enumerate(parts):
            self._check_part(part)
            groups.setdefault(part.modality, []).append(i)
        out = list(parts)
        for m, positions in groups.items():
            report = self._encode(m, [parts[i].item for i in positions])
            if report.errors:
                bad = report.errors[0]
                raise _part_error(parts[positions[bad.index]], bad.reason)
            vectors = report.embeddings.vectors.numpy()
            for row, i in enumerate(positions):
                out[i] = replace(parts[i], item=vectors[row : row + 1])
        return value, out

    def _embedded(self, part: QueryPart) -> Embeddings:
        return Embeddings(torch.from_numpy(part.item), part.modality, self.model_id)

    def _label_embeddings(self, labels: list[str], modality: Modality) -> Embeddings:
        return class_embeddings(self.space, labels, modality)

    def check_modality(self, modality: Modality | str) -> Modality:
        """The modality `modality` names, if the space embeds it.

        Raises:
            InputError: an unknown modality, or one the space has no tower for ("modality").
        """
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

    def label_names(self, labels: Sequence[str] | None, label_set: str = "default") -> list[str]:
        """The labels a classify request names: `labels` (stripped, without repeats), or else
        the named label set.

        Raises:
            InputError: fewer than two labels, more than `max_labels` given (counted before
                anything is done per label), an unknown label set.
        """
        if labels is not None and len(labels) > self.max_labels:
            raise InputError("labels", f"has {len(labels)} labels; at most {self.max_labels}")
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
        """The embedding of one query part (its item as it is when `read_request` embedded it)."""
        if isinstance(part.item, Embeddings):
            return part.item
        self._check_part(part)
        try:
            return await self._batcher.submit(part.modality, [part.item])
        except MissingModality as e:
            raise InputError("modality", str(e)) from None
        except BadInput as e:
            raise _part_error(part, e.reason) from None

    def _check_part(self, part: QueryPart) -> None:
        if part.modality not in self.space.modalities:
            have = ", ".join(x.value for x in self.space.modalities)
            raise InputError(
                part.field,
                f"is {part.modality.value}, which {self.model_id} cannot embed; it embeds: {have}",
            )

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
            raise InputError("weights", e.reason) from None

    async def _class_embeddings(self, labels: list[str], modality: Modality) -> Embeddings:
        """Label embeddings through the modality's prompt templates, cached per label list."""
        key = (modality, *labels)
        cached = self._label_cache.get(key)
        if cached is None:
            cached = await self._batcher.run(
                "labels", labels, modality, what="embedding the labels"
            )
            if len(self._label_cache) >= 256:
                self._label_cache.pop(next(iter(self._label_cache)))
            self._label_cache[key] = cached
        return cached

    def _library(self, field: str) -> Library:
        if self.library is None:
            raise InputError(field, "this server has no index to search; start it with --index")
        return self.library

    def _vector(self, vector: Any) -> Embeddings:
        try:
            v = np.asarray(vector, dtype=np.float32)
        except (TypeError, ValueError):
            raise InputError("vector", "must be a list of numbers") from None
        if v.ndim != 1 or v.shape[0] != self.space.dim:
            raise InputError(
                "vector",
                f"must have {self.space.dim} numbers (the space's dimension), got {v.size}",
            )
        if not np.isfinite(v).all():
            raise InputError("vector", "contains NaN or infinite values")
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            raise InputError("vector", "is all zeros")
        return Embeddings(torch.from_numpy(v / norm)[None], Modality.TEXT, self.model_id)

    @staticmethod
    def _search(
        library: Library,
        query: Embeddings,
        k: int,
        offset: int,
        modality: Modality | None,
        where: Filter,
    ) -> tuple[list[Hit], int, int]:
        """One search, its match count and generation, all on one generation of the library."""
        with library.snapshot():
            total = library.count(modality=modality, filter=where)
            hits = library.search(query, k, offset=offset, modality=modality, filter=where)
            return hits, total, library.manifest.generation

    @staticmethod
    def _shown(hit: Hit, library: Library) -> Hit:
        """`hit` with its path relative to the indexed folder it lies in (or its name only)."""
        path = Path(hit.path)
        for root in library.manifest.roots:
            base = Path(root)
            if path.is_relative_to(base):
                shown = path.relative_to(base)
                return replace(
                    hit, path=str(Path(base.name) / shown) if str(shown) != "." else base.name
                )
        return replace(hit, path=path.name)
