"""Similarity matrices."""

from __future__ import annotations

import pytest
import torch

from openbind.errors import BadInput, SpaceMismatch
from openbind.space.convert import from_numpy
from openbind.tasks import similarity
from openbind.types import Embeddings, Modality

A = from_numpy(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), "image", "s.v1")
B = from_numpy(torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]]), "text", "s.v1")


def test_cosine_matrix():
    result = similarity(A, B)
    half = 2**-0.5
    expected = torch.tensor([[0.0, 1.0, -1.0], [half, half, -half]])
    assert result.score_kind == "cosine" and result.logit_scale == 1.0
    assert torch.allclose(result.matrix, expected, atol=1e-6)


def test_self_similarity_has_a_unit_diagonal():
    assert torch.allclose(similarity(B).matrix.diagonal(), torch.ones(3))


def test_logits_carry_their_scale():
    result = similarity(A, B, logit_scale=100.0)
    assert result.score_kind == "logit" and result.logit_scale == 100.0
    assert torch.allclose(result.matrix, 100.0 * similarity(A, B).matrix)
    assert torch.allclose(result.softmax().sum(1), torch.ones(2))
    assert result.softmax()[0].argmax().item() == 1


def test_errors():
    with pytest.raises(BadInput, match="logit_scale must be > 0"):
        similarity(A, B, logit_scale=0.0)
    with pytest.raises(BadInput, match="non-empty"):
        similarity(A, Embeddings(torch.zeros(0, 2), Modality.TEXT, "s.v1"))
    with pytest.raises(SpaceMismatch, match=r"t\.v1"):
        similarity(A, from_numpy(torch.eye(2), "text", "t.v1"))
