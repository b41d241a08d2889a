"""MilvusIndex against milvus-lite (a local file): add, search, filter, remove, reopen."""

from __future__ import annotations

import numpy as np
import pytest

from openbind.errors import BadInput, IndexMismatch
from openbind.index.base import VectorIndex
from openbind.index.milvus import MilvusIndex

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return str(tmp_path_factory.mktemp("milvus") / "vectors.db")


def test_milvus_round_trip(db, tmp_path):
    index = MilvusIndex(db, "photos", dim=8)
    assert isinstance(index, VectorIndex)
    v = unit(30, 8)
    index.add(np.arange(100, 130), v)
    found = index.search(v[:3], k=4)
    exact = np.argsort(-(v[:3] @ v.T), axis=1)[:, :4] + 100
    np.testing.assert_array_equal(found.ids, exact)
    assert found.scores[0, 0] == pytest.approx(1.0, abs=1e-5)

    allowed = index.search(v[:1], k=5, allow=np.array([105, 107]))
    assert sorted(allowed.ids[0, :2].tolist()) == [105, 107] and (allowed.ids[0, 2:] == -1).all()

    with pytest.raises(BadInput, match="already in the index"):
        index.add(np.array([100]), v[:1])
    assert index.remove(np.array([100, 101, 999])) == 2
    assert len(index) == 28 and 100 not in index.ids().tolist()
    np.testing.assert_allclose(index.vectors(np.array([129, 102])), v[[29, 2]], rtol=1e-6)
    with pytest.raises(BadInput, match="not in the index"):
        index.vectors(np.array([100]))

    index.save(tmp_path / "pointer.json")
    index.close()
    again = MilvusIndex.load(tmp_path / "pointer.json")
    assert len(again) == 28
    assert again.search(v[5:6], k=1).ids[0, 0] == 105
    with pytest.raises(IndexMismatch, match="holds 8-d vectors, not 4-d"):
        MilvusIndex(db, "photos", dim=4)
    again.close()
