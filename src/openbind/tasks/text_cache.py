"""A cache of text embeddings: repeated prompts (class labels, templates, queries) are embedded once.

Zero-shot classifiers embed C classes x P templates prompts; the same label sets come back for
every request of a server or every folder of a batch job. `text_cache(space)` is one LRU cache
per space (held weakly: it goes away with the space); `class_embeddings` uses it, so a label set
is embedded once and later classifiers over it cost a lookup.

Example:
    >>> cache = text_cache(space)
    >>> cache.encode(["a dog", "a cat"])   # embedded
    >>> cache.encode(["a cat", "a bird"])  # only "a bird" is embedded
    >>> cache.hits, cache.misses
    (1, 3)
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence

import torch

from openbind.errors import BadInput
from openbind.types import Embeddings, Modality

DEFAULT_SIZE = 4096
"""Prompts kept per space (4096 x 1024 float32 = 16 MiB)."""


class TextCache:
    """LRU cache of one space's text embeddings, keyed by the exact string.

    The cache empties itself when the space's parameters change: identity, count, dtype or
    in-place values (`openbind.quantize.optimize`, `.to(...)`, other weights, a training step);
    `clear()` does it by hand.

    Args:
        space: anything with `encode("text", texts)` (an `openbind.Space`).
        maxsize: prompts kept; the least recently used go first.
    """

    def __init__(self, space: object, maxsize: int = DEFAULT_SIZE) -> None:
        if maxsize < 1:
            raise BadInput(f"maxsize must be >= 1, got {maxsize}")
        self._space = weakref.ref(space)
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._rows: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._model_id = getattr(space, "model_id", "")
        self._signature = _signature(space)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        """Forget every cached embedding (and the hit / miss counts)."""
        with self._lock:
            self._rows.clear()
            self.hits = self.misses = 0

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Normalised embeddings (N, D) of `texts`, embedding only the ones not cached.

        Raises:
            BadInput: `texts` is a single string or holds a non-string.
        """
        if isinstance(texts, str):
            raise BadInput("TextCache.encode takes a list of strings, got one string")
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise BadInput(
                f"TextCache.encode takes strings; item {bad[0]} is {type(texts[bad[0]])}"
            )
        space = self._space()
        if space is None:
            raise BadInput("the space of this TextCache no longer exists")
        with self._lock:
            signature = _signature(space)
            if signature != self._signature:
                self._rows.clear()
                self._signature = signature
            missing = list(dict.fromkeys(t for t in texts if t not in self._rows))
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        if missing:
            fresh = space.encode(Modality.TEXT, missing)
            with self._lock:
                for text, row in zip(missing, fresh.vectors, strict=True):
                    self._rows[text] = row.clone()
                self._model_id = fresh.model_id
        with self._lock:
            rows = []
            for t in texts:
                row = self._rows.get(t)
                if row is None:  # evicted meanwhile by another thread's insertions
                    row = space.encode(Modality.TEXT, [t]).vectors[0]
                rows.append(row)
                self._rows[t] = row
                self._rows.move_to_end(t)
            while len(self._rows) > self.maxsize:
                self._rows.popitem(last=False)
        data = torch.stack(rows) if rows else torch.zeros(0, getattr(space, "dim", 0))
        return Embeddings(data, Modality.TEXT, self._model_id)


_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def text_cache(space: object, maxsize: int = DEFAULT_SIZE) -> TextCache:
    """The shared `TextCache` of `space` (made on first use)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(space)
        if cache is None:
            cache = _CACHES[space] = TextCache(space, maxsize)
        return cache


def _signature(space: object) -> tuple:
    """What identifies the space's current weights: count, first tensor, dtype, and the sum of
    the parameters' in-place version counters (an optimizer step or `copy_` bumps them)."""
    params = getattr(space, "parameters", None)
    if params is None:
        return ()
    tensors = list(params())
    if not tensors:
        return (0,)
    try:
        versions = sum(t._version for t in tensors)
    except RuntimeError:  # inference tensors have no version counter
        versions = -1
    return (len(tensors), tensors[0].data_ptr(), tensors[0].dtype, versions)
