"""Segmented storage: commits write what changed, readers catch up incrementally, compaction,
and the upgrade of libraries written before segments."""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from openbind.index import FlatIndex, Library, Record
from openbind.index.manifest import Manifest


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_commit_writes_what_it_changed(tmp_path):
    lib = Library.create(tmp_path / "lib", model_id="toy", dim=64)
    lib.add(unit(5000, 64), [Record(f"f{i}", "image") for i in range(5000)])
    lib.commit()
    big = lib.last_commit_bytes
    assert big > 5000 * 64 * 4
    lib.add(unit(10, 64, seed=1), [Record(f"g{i}", "text") for i in range(10)])
    lib.remove([3, 4])
    lib.commit()
    assert lib.last_commit_bytes < 10_000 < big / 100  # one small segment + manifest + rows
    assert len(lib.manifest.segments) == 2
    again = Library.open(lib.path)
    assert len(again) == 5008 and again.search(unit(10, 64, seed=1)[7], k=1)[0].path == "g7"
    assert again.get([5]) and not again.find({"path_glob": "f3"})


def test_reader_catches_up_segment_by_segment(tmp_path):
    writer = Library.create(tmp_path / "lib", model_id="toy", dim=8)
    writer.add(unit(20, 8), [Record(f"f{i}", "image") for i in range(20)])
    writer.commit()
    reader = Library.open(writer.path)
    writer.add(unit(1, 8, seed=9), [Record("new", "text")])
    writer.remove([0, 1])
    writer.commit()
    assert reader.reload() is True and len(reader) == 19
    assert reader.search(unit(1, 8, seed=9)[0], k=1)[0].path == "new"
    assert {h.id for h in reader.search(unit(20, 8)[0], k=20)}.isdisjoint({0, 1})


def test_compaction_merges_segments_and_keeps_results(tmp_path):
    lib = Library.create(tmp_path / "lib", model_id="toy", dim=8)
    v = unit(40, 8)
    for i in range(0, 40, 4):
        lib.add(v[i : i + 4], [Record(f"f{j}", "image") for j in range(i, i + 4)])
        lib.commit()
    lib.remove(list(range(0, 40, 2)))
    lib.commit()
    reader = Library.open(lib.path)
    before = [(h.id, round(h.score, 5)) for h in lib.search(v[5], k=10)]
    lib.compact()
    assert len(lib.manifest.segments) == 1
    assert reader.reload() is True
    for it in (lib, reader, Library.open(lib.path)):
        assert [(h.id, round(h.score, 5)) for h in it.search(v[5], k=10)] == before
    lib.add(unit(1, 8, seed=3), [Record("late", "text")])
    lib.commit()  # the pre-compaction generation is no longer kept: its segments go
    files = sorted(p.name for p in (lib.path / "segments").iterdir())
    assert len(files) == 2 * 2 and files[0].endswith("-c.ids.npy")


def test_background_compaction_after_many_commits(tmp_path, monkeypatch):
    import openbind.index.library as library_module

    monkeypatch.setattr(library_module, "MAX_SEGMENTS", 3)
    lib = Library.create(tmp_path / "lib", model_id="toy", dim=8)
    v = unit(8, 8)
    for i in range(5):
        lib.add(v[i : i + 1], [Record(f"f{i}", "image")])
        lib.commit()
    lib._compactor.join()
    assert len(lib.manifest.segments) <= 2
    assert [h.path for h in Library.open(lib.path).search(v[4], k=1)] == ["f4"]


def test_a_v1_library_is_upgraded_on_open(tmp_path):
    path = tmp_path / "old"
    gen = path / "gen-000002"
    gen.mkdir(parents=True)
    index = FlatIndex(8)
    index.add(np.array([0, 1, 5]), unit(3, 8))
    index.save(gen / "vectors.npz")
    db = sqlite3.connect(gen / "meta.sqlite")
    db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, path TEXT, modality TEXT, content_hash TEXT,"
        " size INTEGER, mtime REAL, extra TEXT)"
    )
    db.executemany(
        "INSERT INTO items VALUES (?,?,?,?,?,?,?)",
        [(i, f"p{i}", "image", "", 1, 2.0, "{}") for i in (0, 1, 5)],
    )
    db.commit()
    db.close()
    manifest = Manifest("toy", 8, count=3, next_id=6, generation=2, format="openbind-library/1")
    data = json.loads(manifest.to_json())
    (gen / "manifest.json").write_text(json.dumps(data))
    (path / "CURRENT").write_text("gen-000002\n")
    lib = Library.open(path)
    assert lib.manifest.format == "openbind-library/2" and lib.manifest.generation == 3
    assert [r.path for r in lib.records()] == ["p0", "p1", "p5"]
    assert lib.search(unit(3, 8)[2], k=1)[0].id == 5
    assert not (path / "gen-000002").exists()


def test_ivfpq_library_recall_and_exact_vectors(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64)).astype(np.float32)
    data = centres[rng.integers(0, 50, 3000)] + 0.3 * rng.normal(size=(3000, 64)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    params = {"train_size": 2000, "nlist": 32, "m": 16, "nprobe": 8}
    lib = Library.create(tmp_path / "pq", model_id="toy", dim=64, kind="ivfpq", params=params)
    lib.add(data, [Record(f"f{i}", "image") for i in range(3000)])
    lib.commit()
    again = Library.open(lib.path)
    assert again._index.trained and again.manifest.kind == "ivfpq"
    queries = data[:50]
    exact = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    found = [[h.id for h in again.search(q, k=10)] for q in queries]
    recall = np.mean(
        [len(set(f) & set(e.tolist())) / 10 for f, e in zip(found, exact, strict=True)]
    )
    assert recall > 0.4  # 16-byte codes of 64-d vectors (chance: 10 / 3000); exact gives 1.0
    np.testing.assert_array_equal(again.vectors([7, 3]), data[[7, 3]])  # exact, from segments
    again.remove([0])
    again.commit()
    assert 0 not in {h.id for h in Library.open(lib.path).search(data[0], k=5)}


def test_hnsw_structure_is_kept_with_the_compacted_segment(tmp_path, monkeypatch):
    from openbind.index import HNSWIndex

    lib = Library.create(tmp_path / "h", model_id="toy", dim=16, kind="hnsw")
    v = unit(600, 16)
    lib.add(v[:200], [Record(f"f{i}", "image") for i in range(200)])
    lib.commit()
    lib.add(v[200:600], [Record(f"f{i}", "image") for i in range(200, 600)])
    lib.remove([5])
    lib.commit()  # 600 stored, none covered by a snapshot: a background compaction keeps one
    lib._compactor.join()
    first = lib.manifest.segments[0]
    assert first.endswith("-c") and (lib.path / "segments" / f"{first}.index.npz").is_file()
    lib.add(v[:1] * -1.0, [Record("late", "text")])
    lib.commit()
    added: list[int] = []
    real_add = HNSWIndex.add
    monkeypatch.setattr(
        HNSWIndex, "add", lambda self, i, x: (added.append(len(i)), real_add(self, i, x))
    )
    again = Library.open(lib.path)
    assert added == [1]  # only the vector after the snapshot; the graph was loaded
    assert len(again) == 599 + 1 and again.search(v[7], k=1)[0].id == 7
    assert 5 not in {h.id for h in again.search(v[5], k=10)}


def test_disk_full_while_writing_a_segment_keeps_the_last_generation(tmp_path, monkeypatch):
    import errno

    import pytest

    import openbind.index.library as library_module
    from openbind.errors import VectorIndexError

    lib = Library.create(tmp_path / "lib", model_id="toy", dim=8)
    lib.add(unit(5, 8), [Record(f"f{i}", "image") for i in range(5)])
    lib.commit()
    reader = Library.open(lib.path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(library_module, "write_segment", full)
    lib.add(unit(1, 8, seed=4), [Record("big", "video")])
    lib.remove([0])
    with pytest.raises(VectorIndexError, match="No space left on device"):
        lib.commit()
    assert not lib.dirty and len(lib) == 5 and lib.search(unit(5, 8)[0], k=1)[0].id == 0
    assert reader.reload() is False and len(reader) == 5
    monkeypatch.undo()
    lib.add(unit(1, 8, seed=4), [Record("big", "video")])  # the same path again: rolled back
    lib.commit()
    assert reader.reload() is True and len(reader) == 6


def test_ivfpq_refine_reranks_the_shortlist_exactly(tmp_path):
    """Re-ranking 10 x k codes against the stored vectors lifts recall@10 well above the codes'
    own, and scores become exact cosines; pending (uncommitted) vectors are re-ranked too."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64)).astype(np.float32)
    data = centres[rng.integers(0, 50, 3000)] + 0.3 * rng.normal(size=(3000, 64)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[:50]
    exact = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    recalls = {}
    for refine in (0, 10):
        params = {"train_size": 2000, "nlist": 32, "m": 4, "nprobe": 8, "refine": refine}
        lib = Library.create(
            tmp_path / f"pq{refine}", model_id="toy", dim=64, kind="ivfpq", params=params
        )
        lib.add(data[:2500], [Record(f"f{i}", "image") for i in range(2500)])
        lib.commit()
        lib.add(data[2500:], [Record(f"f{i}", "image") for i in range(2500, 3000)])  # pending
        found = [lib.search(q, k=10) for q in queries]
        recalls[refine] = np.mean(
            [
                len({h.id for h in f} & set(e.tolist())) / 10
                for f, e in zip(found, exact, strict=True)
            ]
        )
        if refine:
            top = found[0][0]
            assert top.id == 0 and abs(top.score - 1.0) < 1e-5  # an exact cosine
            paged = lib.search(queries[0], k=5, offset=5)
            assert [h.id for h in paged] == [h.id for h in found[0][5:10]]
            only = lib.search(queries[3], k=3, filter={"path_glob": "f2[5-9]??"})
            assert only and all(h.id >= 2500 for h in only)
    assert recalls[0] < 0.6 and recalls[10] > 0.9 and recalls[10] - recalls[0] > 0.3


def test_hnsw_updates_are_incremental_and_tombstones_go_in_the_background(tmp_path, monkeypatch):
    """Adds link new nodes into the graph and removes only tombstone: neither rebuilds the graph
    in the caller. Past `max_tombstones` the background compaction rebuilds it from the live
    vectors, applying what changed meanwhile."""
    from openbind.index import HNSWIndex

    params = {"m": 8, "max_tombstones": 0.25}
    lib = Library.create(tmp_path / "h", model_id="toy", dim=16, kind="hnsw", params=params)
    v = unit(700, 16)
    lib.add(v[:400], [Record(f"f{i}", "image") for i in range(400)])
    lib.commit()
    if lib._compactor is not None:
        lib._compactor.join()
    built = lib._index
    rebuilt_in_caller: list[int] = []
    real_compact = HNSWIndex.compact
    monkeypatch.setattr(
        HNSWIndex, "compact", lambda self: (rebuilt_in_caller.append(1), real_compact(self))
    )
    lib.add(v[400:450], [Record(f"f{i}", "image") for i in range(400, 450)])
    lib.remove(list(range(150)))  # 150 / 450 dead > 25%
    assert lib._index is built and built.tombstones == 150 and len(lib) == 300
    assert not rebuilt_in_caller
    assert 0 not in {h.id for h in lib.search(v[0], k=5)}
    lib.commit()  # starts the background rebuild
    lib._compactor.join()
    assert not rebuilt_in_caller and lib._index is not built
    assert lib._index.tombstones == 0 and len(lib) == 300
    assert lib.search(v[420], k=1)[0].id == 420
    again = Library.open(lib.path)
    assert len(again) == 300 and again._index.tombstones == 0
    assert again.search(v[200], k=1)[0].id == 200
    assert not {h.id for h in again.search(v[5], k=10)} & set(range(150))


def test_a_segment_written_chunk_by_chunk_reads_back_exactly(tmp_path):
    from openbind.index.segments import read_segment, write_segment_rows

    v = unit(10, 4)
    ids = np.arange(100, 110)
    calls: list[int] = []

    def rows(chunk):
        calls.append(len(chunk))
        return v[chunk - 100]

    write_segment_rows(tmp_path, "seg-000001-c", ids, 4, rows, chunk=3)
    got_ids, got = read_segment(tmp_path, "seg-000001-c", 4)
    assert calls == [3, 3, 3, 1]
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(np.asarray(got), v)
    assert not list(tmp_path.glob(".*"))
