"""A space that is not a `SpaceModel` (a minimal `openbind.Space` written here) goes through the
library pipeline, `Library.search`, the service and the HTTP API: they use only the protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi.testclient import TestClient

from openbind.errors import BadInput
from openbind.pipeline import build_library
from openbind.serve.app import create_app
from openbind.serve.service import Service
from openbind.space.protocol import EncodeReport, ItemError, Space, pick, split_call
from openbind.types import Embeddings, Modality

WORDS = ("red", "green", "blue", "sky", "grass")


class WordSpace:
    """Text only: a bag of five colour words, L2-normalised (dim 5)."""

    model_id = "words.test"
    dim = len(WORDS)

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return (Modality.TEXT,)

    def _row(self, item: Any) -> torch.Tensor:
        text = Path(item).read_text() if isinstance(item, Path) else str(item)
        v = torch.tensor([text.lower().count(w) for w in WORDS], dtype=torch.float32) + 0.01
        return v / v.norm()

    def encode_report(self, inputs: Any, items: Any = None, *, batch_size=None, progress=None):
        groups, single = split_call(inputs, items)
        out = {}
        for m, values in groups.items():
            kept, rows, errors = [], [], []
            for i, value in enumerate(values):
                if isinstance(value, bytes):
                    errors.append(ItemError(i, "bytes", "words only"))
                    continue
                kept.append(i)
                rows.append(self._row(value))
            vectors = torch.stack(rows) if rows else torch.zeros(0, self.dim)
            out[m] = EncodeReport(Embeddings(vectors, m, self.model_id), kept, errors)
        return pick(out, single)

    def encode(self, inputs: Any, items: Any = None, *, batch_size=None, progress=None):
        groups, single = split_call(inputs, items)
        out = {}
        for m, values in groups.items():
            report = self.encode_report(m, values)
            if report.errors:
                raise BadInput(report.errors[0].reason).at(report.errors[0].index, m.value)
            out[m] = report.embeddings
        return pick(out, single)

    def features(self, inputs: Any, items: Any = None, *, batch_size=None):
        return self.encode(inputs, items)

    def logit_scale(self, modality: Modality | str) -> float:
        return 10.0


def test_a_protocol_space_builds_searches_and_serves(tmp_path):
    space = WordSpace()
    assert isinstance(space, Space)
    media = tmp_path / "notes"
    media.mkdir()
    (media / "sky.txt").write_text("blue sky blue")
    (media / "grass.txt").write_text("green grass")
    lib, summary = build_library(space, tmp_path / "lib", [media])
    assert summary.embedded == 2
    hits = lib.search(space.encode("text", "a blue sky"), k=1)
    assert Path(hits[0].path).name == "sky.txt"
    with TestClient(create_app(Service(space, lib))) as client:
        body = client.post("/search", json={"q": "green", "k": 1}).json()
        assert body["hits"][0]["path"] == "notes/grass.txt"
        emb = client.post("/v1/embeddings", json={"model": "words.test", "input": "red"}).json()
        np.testing.assert_allclose(
            emb["data"][0]["embedding"], space.encode("text", "red").numpy()[0], rtol=1e-6
        )
