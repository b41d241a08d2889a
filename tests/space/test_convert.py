"""numpy / torch conversion helpers and the same-space check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openbind.errors import BadInput, SpaceMismatch
from openbind.space.convert import check_same_space, from_numpy, to_numpy
from openbind.types import Embeddings, Modality


def test_from_numpy_normalises_rows():
    emb = from_numpy(np.array([[3.0, 4.0], [0.0, -2.0]]), "image", "toy.v1")
    assert emb.modality is Modality.IMAGE and emb.model_id == "toy.v1"
    assert torch.allclose(emb.vectors, torch.tensor([[0.6, 0.8], [0.0, -1.0]]))
    assert emb.vectors.dtype == torch.float32


def test_from_numpy_accepts_tensors_and_round_trips():
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    emb = from_numpy(x, Modality.TEXT, "toy.v1")
    back = to_numpy({Modality.TEXT: emb})
    assert list(back) == ["text"] and back["text"].dtype == np.float32
    np.testing.assert_allclose(back["text"], (x / x.norm(dim=1, keepdim=True)).numpy(), atol=1e-6)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones(3), "must be 2-D"),
        (np.array([[1.0, np.nan]]), "NaN or infinite"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), r"rows \[1\] have zero norm"),
    ],
)
def test_from_numpy_rejects_unusable_vectors(array, message):
    with pytest.raises(BadInput, match=message):
        from_numpy(array, "image", "toy.v1")


def test_check_same_space_names_both_spaces():
    a = Embeddings(torch.eye(2), Modality.IMAGE, "a.v1")
    check_same_space(a, Embeddings(torch.eye(2), Modality.TEXT, "a.v1"))
    with pytest.raises(
        SpaceMismatch, match=r"image embeddings of a.v1 \(2-d\) with text embeddings of b.v1"
    ):
        check_same_space(a, Embeddings(torch.eye(2), Modality.TEXT, "b.v1"))
    with pytest.raises(SpaceMismatch, match="3-d"):
        check_same_space(a, Embeddings(torch.eye(3), Modality.IMAGE, "a.v1"))
