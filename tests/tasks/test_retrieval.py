"""Any-to-any retrieval."""

from __future__ import annotations

import pytest
import torch

from openbind.errors import BadInput, SpaceMismatch
from openbind.space.convert import from_numpy
from openbind.tasks import retrieve
from openbind.types import Embeddings, Modality
from tests.space.starter import photos, starter

CANDIDATES = from_numpy(
    torch.tensor([[1.0, 0, 0], [0.8, 0.6, 0], [0, 0, 1], [0, 1, 0]]), "image", "s.v1"
)


def test_top_k_is_sorted_by_cosine():
    queries = from_numpy(torch.tensor([[1.0, 0.1, 0], [0.3, 0, 1.0]]), "text", "s.v1")
    result = retrieve(queries, CANDIDATES, k=2)
    assert result.indices.tolist() == [[0, 1], [2, 0]]
    expected = (queries.vectors @ CANDIDATES.vectors.T).topk(2).values
    assert torch.allclose(result.scores, expected) and result.score_kind == "cosine"
    assert result.hits(1)[0] == (2, pytest.approx(1.0 / 1.09**0.5))


def test_k_is_capped_at_the_number_of_candidates():
    queries = from_numpy(torch.tensor([[0.2, 1.0, 0.1]]), "text", "s.v1")
    assert retrieve(queries, CANDIDATES, k=100).indices.tolist() == [[3, 1, 0, 2]]


def test_bad_k_empty_sets_and_other_spaces():
    queries = from_numpy(torch.tensor([[1.0, 0, 0]]), "text", "s.v1")
    with pytest.raises(BadInput, match="k must be >= 1, got 0"):
        retrieve(queries, CANDIDATES, k=0)
    empty = Embeddings(torch.zeros(0, 3), Modality.IMAGE, "s.v1")
    with pytest.raises(BadInput, match="got 1 and 0"):
        retrieve(queries, empty)
    with pytest.raises(SpaceMismatch, match="2-d"):
        retrieve(from_numpy(torch.tensor([[1.0, 0]]), "text", "s.v1"), CANDIDATES)


def test_starter_finds_the_photo_of_a_description():
    space = starter()
    names = ["chelsea", "coffee", "rocket", "motorcycle", "astronaut"]
    emb = space.encode(
        {
            "image": [photos()[n] for n in names],
            "text": ["a cup of coffee", "a motorcycle", "a cat"],
        }
    )
    assert retrieve(emb["text"], emb["image"], k=1).indices.flatten().tolist() == [1, 3, 0]
    # image -> image: a photo finds itself first
    assert retrieve(emb["image"], emb["image"], k=1).indices.flatten().tolist() == [0, 1, 2, 3, 4]
