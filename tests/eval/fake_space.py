"""A fake `openbind.Space` whose answers are known: an item means the words it contains.

A file's content is read as text; a string is its own text; an array (a crop) means "people" when
bright, else "background". Each vocabulary word has a fixed random unit vector; an item's vector
is the normalised sum of its vocabulary words' vectors (words outside the vocabulary, like the
prompt wording, are ignored). Content starting with "CORRUPT" is refused. `calls` counts the
items encoded per modality.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openbind.errors import DecodeError
from openbind.space.protocol import EncodeReport, ItemError, pick, split_call
from openbind.types import Embeddings, Modality

DIM = 64


class FakeSpace:
    def __init__(
        self,
        vocabulary: list[str],
        modalities: tuple[str, ...] = ("text", "image", "audio", "video", "depth", "thermal"),
        model_id: str = "fake_words.v1",
    ) -> None:
        self.model_id = model_id
        self.dim = DIM
        self._modalities = tuple(Modality.parse(m) for m in modalities)
        words = sorted({w for v in vocabulary for w in _words(v)})
        rng = np.random.default_rng(0)
        table = rng.standard_normal((len(words), DIM))
        self.table = dict(
            zip(words, table / np.linalg.norm(table, axis=1, keepdims=True), strict=True)
        )
        self.calls: Counter[str] = Counter()

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return self._modalities

    def logit_scale(self, modality: Modality | str) -> float:
        return 10.0

    def _vector(self, item: Any) -> np.ndarray:
        if isinstance(item, np.ndarray):
            text = "people" if item.mean() > 128 else "background"
        elif isinstance(item, Path):
            text = Path(item).read_bytes().decode("utf-8", "replace")
        else:
            text = str(item)
        if text.startswith("CORRUPT"):
            raise DecodeError("corrupt fake file", source=str(item))
        v = sum((self.table[w] for w in _words(text) if w in self.table), np.zeros(DIM))
        if not np.any(v):
            v = np.ones(DIM)
        return v / np.linalg.norm(v)

    def encode_report(self, inputs: Any, items: Any = None, *, batch_size=None, progress=None):
        requests, single = split_call(inputs, items)
        out = {}
        for m, xs in requests.items():
            if m not in self._modalities:
                raise KeyError(m)
            rows, kept, errors = [], [], []
            for i, x in enumerate(xs):
                try:
                    rows.append(self._vector(x))
                    kept.append(i)
                except DecodeError as e:
                    errors.append(ItemError(i, str(x), e.reason))
            self.calls[m.value] += len(xs)
            vectors = torch.tensor(np.array(rows).reshape(-1, DIM), dtype=torch.float32)
            out[m] = EncodeReport(Embeddings(vectors, m, self.model_id), kept, errors)
        return pick(out, single)

    def encode(self, inputs: Any, items: Any = None, *, batch_size=None, progress=None):
        reports = self.encode_report(inputs, items)
        if isinstance(reports, EncodeReport):
            return reports.embeddings
        return {m: r.embeddings for m, r in reports.items()}

    def features(self, inputs: Any, items: Any = None, *, batch_size=None):
        out = self.encode(inputs, items)
        return (
            out.vectors if isinstance(out, Embeddings) else {m: e.vectors for m, e in out.items()}
        )

    def to(self, *args: Any, **kwargs: Any) -> FakeSpace:  # what `openbind.load` calls
        return self

    def eval(self) -> FakeSpace:
        return self


MODEL_ID = "fakewords_small.v1"


def build(entry: Any, *, modalities: Any = None, weights: Any = None) -> FakeSpace:
    """The registry builder: a vocabulary of the words tests/eval/make_data.py writes."""
    from tests.eval import make_data

    return FakeSpace(make_data.VOCABULARY, model_id=MODEL_ID)


def register(monkeypatch: Any) -> None:
    """Make `openbind.load("fakewords")` build a `FakeSpace` for one test."""
    from openbind import registry

    registry.list_models()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_DEFAULT_TAGS", dict(registry._DEFAULT_TAGS))
    registry.register(
        registry.ModelCard(
            MODEL_ID,
            "tests.eval.fake_space:build",
            ("text", "image", "audio", "video", "depth", "thermal"),
            DIM,
            description="test space",
        ),
        aliases=("fakewords",),
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())
