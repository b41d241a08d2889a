"""`openbind.Space`: a minimal second implementation (no `SpaceModel`, no torch module) works
through zero-shot, retrieval, library build/search and the server; the calling convention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import openbind as ob
from openbind.errors import BadInput, MissingModality
from openbind.space.protocol import EncodeReport, ItemError, pick, split_call
from openbind.tasks import retrieve, zero_shot
from openbind.types import Embeddings, Modality
from tests.space.toy import make_space

WORDS = ("red", "green", "blue", "sky", "grass", "fire")
COLOURS = {"red": (1.0, 0.05, 0.05), "green": (0.05, 1.0, 0.05), "blue": (0.05, 0.05, 1.0)}
SYNONYMS = {"sky": "blue", "grass": "green", "fire": "red"}


class ColourWords:
    """A space written from scratch: text and 'image' files (a colour name inside) -> RGB axes."""

    model_id = "toy_words.proto"
    dim = 3

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return (Modality.TEXT, Modality.IMAGE)

    def logit_scale(self, modality: Modality | str) -> float:
        return 10.0

    def _vector(self, m: Modality, item: Any) -> list[float]:
        if m not in self.modalities:
            raise MissingModality(f"{self.model_id} has no {m.value} tower")
        text = Path(item).read_text() if m is Modality.IMAGE else str(item)
        words = [SYNONYMS.get(w, w) for w in text.lower().split() if SYNONYMS.get(w, w) in COLOURS]
        if not words:
            raise BadInput("names no colour", source=str(item)[:40])
        return list(np.mean([COLOURS[w] for w in words], axis=0))

    def _report(self, m: Modality, items: list[Any]) -> EncodeReport:
        rows, kept, errors = [], [], []
        for i, item in enumerate(items):
            try:
                rows.append(self._vector(m, item))
                kept.append(i)
            except BadInput as e:
                errors.append(ItemError(i, str(item)[:40], e.reason))
        data = torch.tensor(rows, dtype=torch.float32).reshape(-1, 3)
        return EncodeReport(Embeddings(F.normalize(data, dim=1), m, self.model_id), kept, errors)

    def encode(self, inputs, items=None, *, batch_size=None, progress=None):
        requests, single = split_call(inputs, items)
        out = {}
        for m, xs in requests.items():
            report = self._report(m, xs)
            if report.errors:
                e = report.errors[0]
                raise BadInput(e.reason, source=e.item).at(e.index, m.value)
            out[m] = report.embeddings
        return pick(out, single)

    def encode_report(self, inputs, items=None, *, batch_size=None, progress=None):
        requests, single = split_call(inputs, items)
        return pick({m: self._report(m, xs) for m, xs in requests.items()}, single)

    def features(self, inputs, items=None, *, batch_size=None):
        requests, single = split_call(inputs, items)
        out = {m: torch.tensor([self._vector(m, x) for x in xs]) for m, xs in requests.items()}
        return pick(out, single)


@pytest.fixture
def words() -> ColourWords:
    return ColourWords()


@pytest.fixture
def swatches(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    for name in COLOURS:
        (root / f"{name}.png").write_text(name)  # read by the toy 'image' tower
    return root


def test_both_implementations_meet_the_protocol(words) -> None:
    assert isinstance(words, ob.Space) and isinstance(make_space(), ob.Space)
    assert not isinstance(object(), ob.Space)


def test_zero_shot_and_retrieval_take_any_space(words) -> None:
    result = zero_shot(words, ["sky", "grass", "fire"], ["red", "green", "blue"], modality="text")
    assert result.labels == ["blue", "green", "red"]
    assert result.logit_scale == 10.0
    hits = retrieve(words.encode("text", ["sky", "fire"]), words.encode("text", WORDS[:3]), k=1)
    assert hits.indices.flatten().tolist() == [2, 0]


def test_library_build_and_search_take_any_space(words, swatches, tmp_path) -> None:
    from openbind.index import Library
    from openbind.pipeline import build_library

    _, summary = build_library(words, tmp_path / "lib", [swatches], progress=False)
    assert (summary.embedded, summary.total) == (3, 3)
    hits = Library.open(tmp_path / "lib", model_id=words.model_id).search(
        words.encode("text", "the grass"), k=1
    )
    assert Path(hits[0].path).name == "green.png"


def test_the_server_takes_any_space(words) -> None:
    from fastapi.testclient import TestClient

    from openbind.serve.app import create_app
    from openbind.serve.service import Service

    service = Service(words, label_sets={"colours": ("red", "green", "blue")}, max_wait_ms=5)
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        r = client.post("/v1/embeddings", json={"model": words.model_id, "input": ["sky"]})
        assert r.status_code == 200, r.text
        vector = r.json()["data"][0]["embedding"]
        np.testing.assert_allclose(
            vector, F.normalize(torch.tensor([[0.05, 0.05, 1.0]]))[0], atol=1e-6
        )
        r = client.post("/v1/embeddings", json={"model": words.model_id, "input": ["sky", "mud"]})
        assert r.status_code == 400 and "input[1]" in r.text


# -- the calling convention ------------------------------------------------------------------


def test_mapping_and_modality_forms_agree() -> None:
    space = make_space()
    both = space.encode({"text": ["a cat", "a dog"]})
    alone = space.encode("text", ["a cat", "a dog"])
    assert set(both) == {Modality.TEXT} and isinstance(alone, Embeddings)
    torch.testing.assert_close(both["text"].vectors, alone.vectors)
    report = space.encode_report({"text": ["a cat"]})[Modality.TEXT]
    torch.testing.assert_close(report.embeddings.vectors, alone.vectors[:1])
    raw = space.features("text", ["a cat", "a dog"])
    torch.testing.assert_close(F.normalize(raw, dim=1), alone.vectors)
    assert set(space.features({"text": ["a cat"]})) == {Modality.TEXT}


def test_a_single_item_gives_one_row() -> None:
    space = make_space()
    one = space.encode("text", "a cat")
    assert one.shape == (1, space.dim)
    torch.testing.assert_close(one.vectors, space.encode("text", ["a cat"]).vectors)
    assert space.encode({"text": "a cat"})["text"].shape == (1, space.dim)
    assert space.encode_report("text", "a cat").kept == [0]
    assert space.features("text", "a cat").shape == (1, space.dim)
    assert space.encode("text", "a cat").shape == (1, space.dim)
    assert space.encode("image", np.float32(0.5)).shape == (1, space.dim)


def test_a_list_without_a_modality_shows_the_right_call() -> None:
    space = make_space()
    for call in (space.encode, space.encode_report, space.features):
        with pytest.raises(TypeError, match=r"encode\('text', \[\.\.\.\]\)"):
            call(["a cat"])
    with pytest.raises(TypeError, match="not both"):
        space.encode({"text": ["a cat"]}, ["a dog"])


def test_split_call_normalises_every_form() -> None:
    assert split_call({"vision": ["x"]}) == ({Modality.IMAGE: ["x"]}, None)
    assert split_call("text", ("a", "b")) == ({Modality.TEXT: ["a", "b"]}, Modality.TEXT)
    assert split_call(Modality.AUDIO, Path("a.wav")) == (
        {Modality.AUDIO: [Path("a.wav")]},
        Modality.AUDIO,
    )
    wave = (np.zeros(16000, dtype=np.float32), 16000)  # (samples, rate) is one audio item
    assert split_call("audio", wave)[0][Modality.AUDIO] == [wave]
    assert len(split_call("audio", [wave, wave])[0][Modality.AUDIO]) == 2
    array = np.zeros((4, 4))
    (requests, _) = split_call("image", array)
    assert len(requests[Modality.IMAGE]) == 1 and requests[Modality.IMAGE][0] is array
