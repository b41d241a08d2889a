"""Query composition by weighted embedding arithmetic."""

from __future__ import annotations

import pytest
import torch

from openbind.errors import BadInput, SpaceMismatch
from openbind.space.convert import from_numpy, take
from openbind.tasks import compose, retrieve
from openbind.types import Modality
from tests.space.starter import photos, starter


def test_weighted_sum_renormalised_and_broadcast():
    a = from_numpy(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "image", "s.v1")
    b = from_numpy(torch.tensor([[0.0, 1.0]]), "audio", "s.v1")
    out = compose([a, b], weights=[1.0, 2.0])
    assert out.modality is Modality.IMAGE and out.model_id == "s.v1"
    expected = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    assert torch.allclose(out.vectors, expected / expected.norm(dim=1, keepdim=True))


def test_errors_are_typed():
    a = from_numpy(torch.tensor([[1.0, 0.0]]), "image", "s.v1")
    with pytest.raises(BadInput, match="at least one"):
        compose([])
    with pytest.raises(BadInput, match="2 parts need 2 weights, got 1"):
        compose([a, a], weights=[1.0])
    with pytest.raises(BadInput, match="cancel out"):
        compose([a, a], weights=[1.0, -1.0])
    two = from_numpy(torch.eye(2), "text", "s.v1")
    three = from_numpy(torch.eye(3)[:, :2] + 0.1, "text", "s.v1")
    with pytest.raises(BadInput, match=r"got \[2, 3\]"):
        compose([two, three])
    with pytest.raises(SpaceMismatch, match=r"other\.v1"):
        compose([a, from_numpy(torch.tensor([[1.0, 0.0]]), "text", "other.v1")])


def test_starter_image_plus_text_moves_the_query_towards_the_text():
    space = starter()
    names = ["chelsea", "coffee", "rocket", "motorcycle", "astronaut", "grass"]
    images = space.encode("image", [photos()[n] for n in names])
    cat, motorcycle = take(images, 0), space.encode("text", ["a motorcycle"])
    ranks = []
    for weight in (0.0, 1.0, 2.0):
        ranked = retrieve(compose([cat, motorcycle], [1.0, weight]), images, k=6)
        ranks.append(ranked.indices[0].tolist())
    assert ranks[0][0] == 0 and ranks[1][0] == 0  # the cat photo leads while the image dominates
    assert ranks[0].index(3) > ranks[1].index(3) > ranks[2].index(3) == 0  # the motorcycle rises
