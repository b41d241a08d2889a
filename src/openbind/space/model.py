"""`SpaceModel`: one `Encoder` per modality in one embedding space, and batched encoding of any input.

Data flow per modality: input item -> transform (decode + preprocess, in worker threads) ->
clips (S, ...) -> clips of a batch collated -> tower -> (clips, D) -> pooled per item ->
L2-normalised `Embeddings`. `SpaceModel` is one implementation of `openbind.Space`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from openbind.errors import BadInput, MissingModality
from openbind.limits import Truncation, recording
from openbind.space.encoder import Clips, Encoder, Pool, clip_count
from openbind.space.pooling import clip_sums
from openbind.space.protocol import EncodeReport, ItemError, pick, split_call
from openbind.types import Embeddings, Modality


class SpaceModel(torch.nn.Module):
    """Encoders of several modalities that embed into one space.

    Args:
        model_id: registry name of the space (`family_variant.tag`).
        encoders: one `Encoder` (tower, transform, collate, order key, pooling) per modality.
        dim: dimension of the space.
        batch_size: items per forward pass when `encode` is not told otherwise.
        workers: threads that decode the next batch while the model runs the current one (0: inline).

    The towers are registered as submodules under `towers.<modality>` (state-dict keys are
    `towers.image.…`), so `.to()`, `.half()` and `state_dict()` cover them.

    Example:
        >>> space = openbind.load("starter")
        >>> emb = space.encode({"text": ["a cat"], "image": ["cat.jpg"]})
        >>> (emb["image"] @ emb["text"].T).item()  # cosine similarity
    """

    def __init__(
        self,
        model_id: str,
        encoders: Mapping[Modality | str, Encoder],
        dim: int,
        *,
        batch_size: int = 16,
        workers: int = 2,
    ) -> None:
        super().__init__()
        self.model_id = model_id
        self.dim = dim
        self.batch_size = batch_size
        self.workers = workers
        self.encoders = {Modality.parse(m): e for m, e in encoders.items()}
        self.towers = torch.nn.ModuleDict({m.value: e.tower for m, e in self.encoders.items()})
        self.eval()

    def encoder(self, modality: Modality | str) -> Encoder:
        """The `Encoder` of `modality` (with the tower as currently registered).

        Raises:
            MissingModality: the space has no tower for it; the message lists those it has.
        """
        m = Modality.parse(modality)
        tower = self.tower(m)
        enc = self.encoders[m]
        return enc if enc.tower is tower else dataclasses.replace(enc, tower=tower)

    def set_transform(self, modality: Modality | str, transform: Callable[[Any], Clips]) -> None:
        """Replace how items of `modality` are preprocessed (e.g. other preprocessing settings)."""
        m = Modality.parse(modality)
        self.encoders[m] = dataclasses.replace(self.encoder(m), transform=transform)

    # -- what the space has ------------------------------------------------------------------

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(Modality(m) for m in self.towers)

    def tower(self, modality: Modality | str) -> torch.nn.Module:
        """The tower of `modality`.

        Raises:
            MissingModality: the space has no tower for it; the message lists those it has.
        """
        m = Modality.parse(modality)
        if m.value not in self.towers:
            have = ", ".join(x.value for x in self.modalities)
            raise MissingModality(f"{self.model_id} has no {m.value} tower; it has: {have}")
        return self.towers[m.value]

    def logit_scale(self, modality: Modality | str) -> float:
        """Temperature the model was trained with for `modality` (1.0 if none)."""
        return float(getattr(self.tower(modality), "logit_scale", 1.0))

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    # -- encoding ------------------------------------------------------------------------------

    def encode(
        self,
        inputs: Mapping[Modality | str, Any] | Modality | str,
        items: Any = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> dict[Modality, Embeddings] | Embeddings:
        """Embed inputs: `{modality: items}` -> `{Modality: Embeddings}`, `(modality, items)` ->
        `Embeddings`.

        Args:
            inputs: per modality, a list of items (or one item): paths, bytes, numpy arrays, PIL
                images, strings or already preprocessed tensors, as that modality's transform
                accepts; or a modality name, with the items as the second argument.
            items: the items, when `inputs` is a modality.
            batch_size: items per forward pass (default: the space's).
            progress: show a progress bar; None shows one for long inputs on a terminal.

        Returns:
            Normalised embeddings (one row per item, in input order); per modality for a mapping.

        Raises:
            BadInput: an item cannot be decoded; its `index` and `reason` say which and why. Use
                `encode_report` to skip bad items instead.
            MissingModality: the space has no tower for a requested modality.
            TypeError: items without a modality.
        """
        requests, single = split_call(inputs, items)
        out = {
            m: self._run(m, xs, batch_size, progress, skip_bad=False).embeddings
            for m, xs in requests.items()
        }
        return pick(out, single)

    def encode_report(
        self,
        inputs: Mapping[Modality | str, Any] | Modality | str,
        items: Any = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> dict[Modality, EncodeReport] | EncodeReport:
        """Like `encode`, but bad items are skipped and reported (`EncodeReport` per modality)."""
        requests, single = split_call(inputs, items)
        out = {
            m: self._run(m, xs, batch_size, progress, skip_bad=True) for m, xs in requests.items()
        }
        return pick(out, single)

    @torch.inference_mode()
    def features(
        self,
        inputs: Mapping[Modality | str, Any] | Modality | str,
        items: Any = None,
        *,
        batch_size: int | None = None,
    ) -> dict[Modality, torch.Tensor] | torch.Tensor:
        """Raw tower features (N, D) float32, before normalisation; clips are averaged per item.

        Same calling convention as `encode`; batching is `encode`'s (longest items first, results
        in input order).

        Raises:
            BadInput: an item cannot be decoded (`index`, `reason`), or batch_size < 1.
        """
        requests, single = split_call(inputs, items)
        out = {
            m: self._run(
                m, xs, batch_size, False, skip_bad=False, pool=_mean_clips
            ).embeddings.torch()
            for m, xs in requests.items()
        }
        return pick(out, single)

    def preprocess(self, modality: Modality | str, item: Any) -> Clips:
        """The model-ready clips (S, *clip_shape) of one item (named tensors for mapping transforms)."""
        clips = self.encoder(modality).transform(item)
        clip_count(clips)
        return clips

    # -- internals -----------------------------------------------------------------------------

    def _run(
        self,
        m: Modality,
        items: list[Any],
        batch_size: int | None,
        progress: bool | None,
        *,
        skip_bad: bool,
        pool: Pool | None = None,
    ) -> EncodeReport:
        """Batch, decode (prefetched), run and pool `items`; longest first, results in input order.

        `pool` turns a batch's (clips, D) tower output into one row per item: normalised
        embeddings by default, the clip mean of raw features for `features`.
        """
        enc = self.encoder(m)  # fails early for a missing tower
        pool = pool or enc.pool
        size = self.batch_size if batch_size is None else batch_size
        if size < 1:
            raise BadInput(f"batch_size must be >= 1, got {size}")
        vectors: list[torch.Tensor] = []
        kept: list[int] = []
        errors: list[ItemError] = []
        truncated: list[ItemError] = []
        bar = _progress_bar(len(items), m.value, progress)
        order = list(range(len(items)))
        key = enc.order_key
        if key is not None:
            order.sort(key=lambda i: key(items[i]), reverse=True)
        indexed = [(i, items[i]) for i in order]
        for batch in _prefetch(self._decode_batch, m, indexed, size, self.workers):
            good = [(i, c) for i, c, _ in batch if not isinstance(c, BadInput)]
            for i, err, cuts in batch:
                if isinstance(err, BadInput):
                    if not skip_bad:
                        raise err.at(i, m.value)
                    errors.append(ItemError(i, _describe(items[i]), str(err)))
                else:
                    truncated.extend(ItemError(i, _describe(items[i]), c.reason) for c in cuts)
            if good:
                clips = [c for _, c in good]
                batch_input = enc.collate(clips)
                with torch.inference_mode():
                    vectors.append(pool(enc.run(batch_input), [clip_count(c) for c in clips]))
                kept.extend(i for i, _ in good)
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        data = torch.cat(vectors) if vectors else torch.zeros(0, self.dim)
        if key is not None:  # back to input order
            rows = sorted(range(len(kept)), key=kept.__getitem__)
            data, kept = data[rows], [kept[r] for r in rows]
            errors.sort(key=lambda e: e.index)
            truncated.sort(key=lambda e: e.index)
        return EncodeReport(Embeddings(data, m, self.model_id), kept, errors, truncated)

    def _decode_batch(
        self, m: Modality, indexed: list[tuple[int, Any]]
    ) -> list[tuple[int, Clips | BadInput, list[Truncation]]]:
        """Each item's clips (or its error), and what its transform cut (noted in this thread)."""
        transform = self.encoder(m).transform
        out: list[tuple[int, Clips | BadInput, list[Truncation]]] = []
        for index, item in indexed:
            with recording() as cuts:
                try:
                    clips = transform(item)
                    clip_count(clips)
                    out.append((index, clips, cuts))
                except BadInput as e:
                    out.append((index, e, cuts))
        return out


def _mean_clips(clips: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Mean of each item's raw clip features (what `features` returns)."""
    return clip_sums(clips, counts) / torch.tensor(counts, dtype=clips.dtype)[:, None]


def _prefetch(
    decode: Callable[[Modality, list[tuple[int, Any]]], list],
    m: Modality,
    indexed: list[tuple[int, Any]],
    size: int,
    workers: int,
) -> Iterator[list]:
    """Decode batch k+1 in a worker thread while the caller runs the model on batch k.

    A single batch is decoded inline: starting threads would only add hand-offs (this matters
    for a server embedding many small requests).
    """
    chunks = [indexed[start : start + size] for start in range(0, len(indexed), size)]
    if len(chunks) <= 1 or workers < 1:
        for chunk in chunks:
            yield decode(m, chunk)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = pool.submit(decode, m, chunks[0])
        for k in range(len(chunks)):
            current = pending
            if k + 1 < len(chunks):
                pending = pool.submit(decode, m, chunks[k + 1])
            yield current.result()


def _describe(item: Any) -> str:
    if isinstance(item, (str, bytes)):
        text = item if isinstance(item, str) else f"bytes[{len(item)}]"
        return text if len(text) <= 120 else text[:117] + "..."
    shape = getattr(item, "shape", None)
    if shape is None:
        shape = getattr(item, "size", None)
    if callable(shape):  # e.g. torch.Tensor.size
        shape = shape()
    try:
        return f"{type(item).__name__}{tuple(shape)}"
    except TypeError:  # an int size (numpy scalar) or no shape at all
        return type(item).__name__


def _progress_bar(total: int, label: str, progress: bool | None):
    if progress is False or (progress is None and (total < 64 or not sys.stderr.isatty())):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"embedding {label}", unit="item")
