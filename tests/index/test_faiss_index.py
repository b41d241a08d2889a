"""FlatIndex / HNSWIndex: exact results against numpy, filters, removal, tombstones, round trips."""

from __future__ import annotations

import numpy as np
import pytest

from openbind.errors import BadInput, VectorIndexError
from openbind.index import FlatIndex, HNSWIndex, HNSWParams, load_index, make_index


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(n: int, d: int, centres: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d))
    x = c[rng.integers(0, centres, n)] + 0.3 * rng.normal(size=(n, d))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(db: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(q @ db.T), axis=1, kind="stable")[:, :k]]


def test_flat_matches_numpy_with_own_ids():
    db, q = unit(300, 16), unit(7, 16, seed=1)
    ids = np.arange(1000, 1300)
    index = FlatIndex(16)
    index.add(ids, db)
    found = index.search(q, k=5)
    np.testing.assert_array_equal(found.ids, exact_top(db, ids, q, 5))
    np.testing.assert_allclose(found.scores[:, 0], (q @ db.T).max(axis=1), rtol=1e-5)
    assert len(index) == 300


def test_flat_pads_when_k_exceeds_size():
    index = FlatIndex(4)
    index.add(np.array([3, 5]), np.eye(4, dtype=np.float32)[:2])
    found = index.search(np.eye(4, dtype=np.float32)[:1], k=4)
    assert found.ids.tolist() == [[3, 5, -1, -1]]
    assert found.scores[0, 0] == pytest.approx(1.0)
    assert np.isneginf(found.scores[0, 2:]).all()


def test_empty_index_returns_no_ids():
    found = FlatIndex(4).search(np.ones((2, 4), np.float32), k=3)
    assert (found.ids == -1).all() and found.ids.shape == (2, 3)


def test_allow_restricts_results():
    db = unit(50, 8)
    ids = np.arange(50)
    index = FlatIndex(8)
    index.add(ids, db)
    allow = np.array([4, 9, 33])
    found = index.search(db[:3], k=5, allow=allow)
    assert set(found.ids[found.ids >= 0].tolist()) <= set(allow.tolist())
    assert (found.ids[:, 3:] == -1).all()
    np.testing.assert_array_equal(found.ids[:, :3], exact_top(db[allow], allow, db[:3], 3))


def test_flat_remove_keeps_other_ids_right():
    db = unit(20, 8)
    index = FlatIndex(8)
    index.add(np.arange(20) * 10, db)
    assert index.remove(np.array([0, 50, 999])) == 2
    assert len(index) == 18
    found = index.search(db, k=1)
    expect = np.arange(20) * 10
    expect[[0, 5]] = -2  # removed rows find something else
    keep = expect >= 0
    np.testing.assert_array_equal(found.ids[keep, 0], expect[keep])
    assert not np.isin(found.ids, [0, 50]).any()
    np.testing.assert_allclose(index.vectors(np.array([190, 10])), db[[19, 1]])


def test_add_rejects_duplicates_and_bad_shapes():
    index = FlatIndex(4)
    index.add(np.array([1]), np.eye(4, dtype=np.float32)[:1])
    with pytest.raises(BadInput, match="already in the index"):
        index.add(np.array([1]), np.eye(4, dtype=np.float32)[:1])
    with pytest.raises(BadInput, match="shape"):
        index.add(np.array([2]), np.ones((1, 5), np.float32))
    with pytest.raises(BadInput, match="NaN"):
        index.add(np.array([2]), np.full((1, 4), np.nan, np.float32))
    with pytest.raises(BadInput, match="ids"):
        index.add(np.array([-1]), np.ones((1, 4), np.float32))
    with pytest.raises(BadInput, match="not in the index"):
        index.vectors(np.array([42]))


def test_hnsw_recall_on_clustered_data():
    db = clustered(3000, 32)
    q = db[:50] + 0.05 * np.random.default_rng(3).normal(size=(50, 32)).astype(np.float32)
    ids = np.arange(3000)
    index = HNSWIndex(32, HNSWParams(m=16, ef_construction=80, ef_search=64))
    index.add(ids, db)
    found = index.search(q, k=10)
    truth = exact_top(db, ids, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.ids, truth, strict=True)])
    assert recall >= 0.95


def test_hnsw_tombstones_are_skipped_then_compacted():
    db = clustered(400, 16)
    index = HNSWIndex(16, HNSWParams(m=8, max_tombstones=0.5))
    index.add(np.arange(400), db)
    assert index.remove(np.arange(0, 100)) == 100
    assert index.tombstones == 100 and len(index) == 300
    found = index.search(db[:100], k=5)
    assert not np.isin(found.ids, np.arange(100)).any()
    index.remove(np.arange(100, 250))  # 250 / 400 dead > 0.5: rebuilt
    assert index.tombstones == 0 and len(index) == 150
    found = index.search(db[250:260], k=1)
    assert found.ids[:, 0].tolist() == list(range(250, 260))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_load_round_trip(tmp_path, kind):
    db = unit(100, 12)
    index = make_index(kind, 12, {"m": 8, "ef_search": 32} if kind == "hnsw" else None)
    index.add(np.arange(100) + 7, db)
    index.remove(np.array([7, 8]))
    index.save(tmp_path / "i.npz")
    again = load_index(tmp_path / "i.npz")
    assert type(again) is type(index) and len(again) == 98
    np.testing.assert_array_equal(again.search(db, 3).ids, index.search(db, 3).ids)
    if kind == "hnsw":
        assert again.params == HNSWParams(m=8, ef_search=32) and again.tombstones == 2


def test_load_rejects_garbage(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not an index")
    with pytest.raises(VectorIndexError, match="cannot read index"):
        load_index(tmp_path / "bad.npz")
    with pytest.raises(VectorIndexError):
        load_index(tmp_path / "missing.npz")


def test_make_index_rejects_unknown_kind_and_params():
    with pytest.raises(BadInput, match="unknown index kind"):
        make_index("ivf", 8)
    with pytest.raises(BadInput, match="unknown HNSW parameters"):
        make_index("hnsw", 8, {"M": 3})
    with pytest.raises(BadInput, match="no parameters"):
        make_index("flat", 8, {"m": 3})
    with pytest.raises(BadInput, match="positive"):
        HNSWParams(m=0)


def test_hnsw_small_filter_is_exact_and_complete():
    db = clustered(2000, 16)
    index = HNSWIndex(16, HNSWParams(m=8, ef_search=16))
    index.add(np.arange(2000) * 3, db)
    index.remove(np.array([30]))
    allow = np.arange(0, 60, 3)  # 20 ids, one of them removed
    found = index.search(db[:4], k=25, allow=allow)
    live = allow[allow != 30]
    rows = live // 3
    np.testing.assert_array_equal(found.ids[:, :19], exact_top(db[rows], live, db[:4], 19))
    assert (found.ids[:, 19:] == -1).all() and np.isneginf(found.scores[:, 19:]).all()
    np.testing.assert_allclose(
        found.scores[:, 0], np.sort(db[:4] @ db[rows].T, axis=1)[:, -1], rtol=1e-5
    )


def test_hnsw_large_filter_widens_the_search(monkeypatch):
    import openbind.index.faiss_index as faiss_index

    monkeypatch.setattr(faiss_index, "EXACT_FILTER_LIMIT", 0)  # force the graph walk
    db = clustered(2000, 16)
    index = HNSWIndex(16, HNSWParams(m=8, ef_search=16))
    index.add(np.arange(2000), db)
    allow = np.arange(0, 2000, 100)  # 20 allowed, scattered
    found = index.search(db[:4], k=10, allow=allow)
    assert (found.ids >= 0).all() and np.isin(found.ids, allow).all()


def test_flat_removal_tombstones_until_a_quarter_then_deletes():
    db = unit(100, 8)
    index = FlatIndex(8)
    index.add(np.arange(100), db)
    assert index.remove(np.arange(20)) == 20  # 20 % dead: rows kept, skipped by searches
    assert index._index.ntotal == 100 and len(index) == 80
    found = index.search(db[:20], k=3)
    assert not np.isin(found.ids, np.arange(20)).any()
    assert index.search(db[:1], k=3, allow=np.array([0, 1, 50])).ids[0, 0] == 50
    assert index.remove(np.arange(15, 30)) == 10  # 30 % dead: deleted for real
    assert index._index.ntotal == 70 and len(index) == 70 and (index._labels >= 0).all()
    assert index.search(db[77:78], k=1).ids[0, 0] == 77
    np.testing.assert_allclose(index.vectors(np.array([99, 30])), db[[99, 30]])


def test_flat_few_queries_and_batches_agree():
    """A few queries take one BLAS product, larger batches faiss's search: same hits."""
    db = unit(500, 16)
    index = FlatIndex(16)
    index.add(np.arange(500) + 1000, db)
    index.remove(np.arange(1000, 1050))  # tombstones are skipped either way
    q = unit(20, 16, seed=5)
    batch = index.search(q, k=7)
    for i in range(20):
        one = index.search(q[i : i + 1], k=7)
        np.testing.assert_array_equal(one.ids[0], batch.ids[i])
        np.testing.assert_allclose(one.scores[0], batch.scores[i], atol=1e-5)
    assert index.search(q[:1], k=600).ids[0, 450:].tolist() == [-1] * 150
