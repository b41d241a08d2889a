"""types: Modality parsing, aliases and string-likeness; Embeddings shape checks and similarity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openbind.errors import BadInput, SpaceMismatch
from openbind.types import Embeddings, Modality


@pytest.mark.parametrize(
    ("value", "member"),
    [
        ("image", Modality.IMAGE),
        (Modality.IMU, Modality.IMU),
        (" Audio ", Modality.AUDIO),
        ("vision", Modality.IMAGE),
        ("rgb", Modality.IMAGE),
        ("images", Modality.IMAGE),
        ("videos", Modality.VIDEO),
        ("THERMAL", Modality.THERMAL),
    ],
)
def test_parse_names_and_aliases(value, member):
    assert Modality.parse(value) is member


def test_parse_unknown_lists_the_valid_names():
    with pytest.raises(BadInput) as e:
        Modality.parse("smell")
    assert (
        str(e.value)
        == "unknown modality 'smell'; valid: text, image, video, audio, depth, thermal, imu"
    )


def test_modality_behaves_like_its_string():
    assert str(Modality.AUDIO) == "audio" and f"{Modality.DEPTH}" == "depth"
    assert Modality.AUDIO == "audio"
    assert {"audio": 1}[Modality.AUDIO] == 1 and {Modality.AUDIO: 1}["audio"] == 1
    assert json.dumps({Modality.TEXT: Modality.IMU}) == '{"text": "imu"}'


def _emb(
    rows: list[list[float]], model_id: str = "m_a.v1", modality: Modality = Modality.TEXT
) -> Embeddings:
    v = torch.tensor(rows, dtype=torch.float32)
    return Embeddings(v / v.norm(dim=1, keepdim=True), modality, model_id)


def test_embeddings_shape_and_accessors():
    e = _emb([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]])
    assert len(e) == 3 and e.dim == 2
    arr = e.numpy()
    assert arr.dtype == np.float32 and arr.shape == (3, 2)
    np.testing.assert_allclose(arr[0], [0.6, 0.8], rtol=1e-6)
    assert e.torch() is e.vectors


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), ()])
def test_embeddings_must_be_2d(shape):
    with pytest.raises(BadInput) as e:
        Embeddings(torch.zeros(shape), Modality.TEXT, "m_a.v1")
    assert str(e.value) == f"embeddings must be 2-D (N, D), got shape {shape}"


def test_matmul_is_the_cosine_matrix():
    a = _emb([[1.0, 0.0], [1.0, 1.0]])
    b = _emb([[0.0, 2.0], [3.0, 0.0], [-1.0, -1.0]], modality=Modality.AUDIO)
    sim = a @ b
    assert sim.shape == (2, 3)
    h = 2**-0.5
    torch.testing.assert_close(sim, torch.tensor([[0.0, 1.0, -h], [h, h, -1.0]]))


def test_matmul_across_spaces_raises_space_mismatch():
    with pytest.raises(SpaceMismatch, match=r"cannot compare m_a\.v1 \(2-d\) with m_b\.v1 \(2-d\)"):
        _emb([[1.0, 0.0]]) @ _emb([[1.0, 0.0]], model_id="m_b.v1")
    with pytest.raises(SpaceMismatch, match=r"\(2-d\) with m_a\.v1 \(3-d\)"):
        _emb([[1.0, 0.0]]) @ _emb([[1.0, 0.0, 0.0]])


# -- Embeddings behave like an (N, D) array ------------------------------------------------------


def _unit(n: int = 5, d: int = 4, seed: int = 0, model: str = "m") -> Embeddings:
    v = torch.nn.functional.normalize(
        torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1
    )
    return Embeddings(v, Modality.TEXT, model)


def test_numpy_takes_embeddings_directly():
    e = _unit()
    a = np.asarray(e)
    assert a.shape == e.shape == (5, 4) and a.dtype == e.dtype == np.float32 and e.ndim == 2
    np.testing.assert_array_equal(a, e.vectors.numpy())
    assert np.asarray(e, dtype=np.float64).dtype == np.float64
    assert np.asarray(e.T).shape == (4, 5)
    np.testing.assert_allclose(a @ e.T, a @ a.T, atol=1e-6)


@pytest.mark.parametrize(
    ("rows", "picked"),
    [
        (0, [0]),
        (-1, [4]),
        (slice(1, 3), [1, 2]),
        ([4, 0], [4, 0]),
        (np.array([3, 1]), [3, 1]),
        (np.array([True, False, True, False, False]), [0, 2]),
        (torch.tensor([2]), [2]),
    ],
)
def test_indexing_selects_rows_and_stays_embeddings(rows, picked):
    e = _unit()
    sub = e[rows]
    assert isinstance(sub, Embeddings) and (sub.modality, sub.model_id) == (e.modality, e.model_id)
    torch.testing.assert_close(sub.vectors, e.vectors[picked])


def test_indexing_past_the_end_is_an_index_error():
    with pytest.raises(IndexError, match="row 5 is out of range for 5"):
        _unit()[5]


def test_transpose_product_and_similarity_are_the_cosine_matrix():
    a, b = _unit(3, seed=1), _unit(2, seed=2)
    want = a.vectors @ b.vectors.T
    torch.testing.assert_close(a @ b.T, want)
    torch.testing.assert_close(a.similarity(b), want)
    with pytest.raises(SpaceMismatch):
        a @ _unit(2, model="other").T


def test_faiss_and_sklearn_take_embeddings():
    faiss = pytest.importorskip("faiss")
    e = _unit(6, seed=3)
    index = faiss.IndexFlatIP(e.dim)
    index.add(e)
    _, top = index.search(e[:2], 1)
    assert top.flatten().tolist() == [0, 1]
    sklearn = pytest.importorskip("sklearn.metrics.pairwise")
    np.testing.assert_allclose(sklearn.cosine_similarity(e), (e @ e.T).numpy(), atol=1e-5)
