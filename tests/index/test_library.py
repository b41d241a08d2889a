"""Library: create / open / add / remove / search / commit, manifest checks, named libraries."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openbind.errors import BadInput, IndexMismatch, UnknownId, VectorIndexError
from openbind.index import Library, Record, library_path, list_libraries, resolve_library
from openbind.types import Embeddings, Modality


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def records(n: int) -> list[Record]:
    mods = [Modality.IMAGE, Modality.TEXT, Modality.AUDIO]
    return [
        Record(f"f{i}.x", mods[i % 3], content_hash=f"h{i}", size=i, mtime=1.5, extra={"i": i})
        for i in range(n)
    ]


@pytest.fixture
def lib(tmp_path):
    lib = Library.create(tmp_path / "lib", model_id="toy", dim=8, roots=["/data"])
    lib.add(unit(9, 8), records(9))
    lib.commit()
    return lib


def test_search_returns_hits_with_metadata(lib):
    v = unit(9, 8)
    hits = lib.search(v[4], k=3)
    assert hits[0].id == 4
    top = hits[0]
    assert top.path == "f4.x" and top.modality is Modality.TEXT
    assert top.score == pytest.approx(1.0, abs=1e-5)
    assert top.metadata == {"content_hash": "h4", "size": 4, "mtime": 1.5, "extra": {"i": 4}}
    assert json.loads(json.dumps(top.to_dict()))["modality"] == "text"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_modality_filter_and_batch(lib):
    v = unit(9, 8)
    hits = lib.search(v[0], k=10, modality="audio")
    assert sorted(h.id for h in hits) == [2, 5, 8]
    batch = lib.search_batch(v[:2] * 3.0, k=2)  # queries are normalised
    assert [row[0].id for row in batch] == [0, 1]
    assert batch[0][0].score == pytest.approx(1.0, abs=1e-5)


def test_reopen_sees_committed_state(lib):
    again = Library.open(lib.path, model_id="toy", dim=8)
    assert len(again) == 9
    assert again.manifest.roots == ("/data",) and again.manifest.generation == 2
    info = again.info().to_dict()
    assert info["modalities"] == {"audio": 3, "image": 3, "text": 3}
    assert info["count"] == 9 and info["next_id"] == 9 and info["size_bytes"] > 0


def test_uncommitted_changes_are_not_on_disk(lib):
    lib.remove([0, 1])
    assert len(lib) == 7 and lib.dirty
    assert len(Library.open(lib.path)) == 9
    lib.discard()
    assert len(lib) == 9 and not lib.dirty
    assert lib.search(unit(9, 8)[0], k=1)[0].id == 0


def test_remove_then_add_gives_fresh_ids(lib):
    assert lib.remove([3, 4, 100]) == 2
    ids = lib.add(unit(1, 8, seed=5), [Record("new.jpg", "image")])
    lib.commit()
    again = Library.open(lib.path)
    assert ids.tolist() == [9]
    assert [r.id for r in again.records()] == [0, 1, 2, 5, 6, 7, 8, 9]
    assert again.get([9])[0].path == "new.jpg"
    np.testing.assert_allclose(again.vectors([9]), unit(1, 8, seed=5), rtol=1e-6)
    with pytest.raises(UnknownId, match="no item with id 3 in library"):
        again.get([3])


def test_context_manager_commits_or_discards(lib):
    with Library.open(lib.path) as w:
        w.remove([0])
    assert len(Library.open(lib.path)) == 8
    with pytest.raises(RuntimeError), Library.open(lib.path) as w:
        w.remove([1])
        raise RuntimeError("boom")
    assert len(Library.open(lib.path)) == 8


def test_old_generations_are_pruned(lib):
    for i in range(3):
        lib.remove([i])
        lib.commit()
    gens = sorted(p.name for p in lib.path.iterdir() if p.name.startswith("gen-"))
    assert gens == ["gen-000004", "gen-000005"]
    assert not list(lib.path.glob(".staging-*"))


def test_mismatched_model_or_dim_is_refused(lib):
    with pytest.raises(IndexMismatch, match=r"built with toy \(8-d\) but other"):
        Library.open(lib.path, model_id="other")
    with pytest.raises(IndexMismatch, match="8-d vectors of toy but 4-d"):
        Library.open(lib.path, dim=4)
    with pytest.raises(IndexMismatch, match="8-d vectors of toy but 5-d"):
        lib.search(np.ones(5, np.float32))
    emb = Embeddings(torch.tensor(unit(1, 8)), Modality.TEXT, "other")
    with pytest.raises(IndexMismatch):
        lib.search(emb)


def test_embeddings_of_the_same_space_are_accepted(lib):
    emb = Embeddings(torch.tensor(unit(9, 8)[2:3]), Modality.TEXT, "toy")
    assert lib.search(emb, k=1)[0].id == 2


def test_bad_vectors_are_refused(lib):
    with pytest.raises(BadInput, match="normalised"):
        lib.add(np.ones((1, 8), np.float32), records(1))
    with pytest.raises(BadInput, match="1 vectors for 2 records"):
        lib.add(unit(1, 8), records(2))
    with pytest.raises(BadInput, match="already in the library"):
        lib.add(unit(1, 8), [Record("f0.x", "image")])
    with pytest.raises(BadInput, match="all zeros"):
        lib.search(np.zeros(8, np.float32))
    with pytest.raises(BadInput, match="one query"):
        lib.search(unit(2, 8))
    assert len(lib) == 9


def test_second_writer_is_locked_out(lib):
    other = Library.open(lib.path)
    lib.remove([0])
    with pytest.raises(VectorIndexError, match="being written by another process"):
        other.remove([1])
    lib.commit()
    with pytest.raises(VectorIndexError, match="changed since it was opened"):
        other.remove([1])


def test_create_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("hi")
    with pytest.raises(VectorIndexError, match="not empty"):
        Library.create(tmp_path / "x", model_id="m", dim=4)


def test_open_refuses_non_library_and_corruption(tmp_path, lib):
    with pytest.raises(VectorIndexError, match="not an openbind library"):
        Library.open(tmp_path)
    gen = lib.path / (lib.path / "CURRENT").read_text().strip()
    (gen / "manifest.json").write_text("{")
    with pytest.raises(VectorIndexError, match="corrupt manifest"):
        Library.open(lib.path)


def test_hnsw_library_round_trip(tmp_path):
    lib = Library.create(tmp_path / "h", model_id="m", dim=8, kind="hnsw", params={"m": 8})
    lib.add(unit(50, 8), records(50))
    lib.remove([0])
    lib.commit()
    again = Library.open(tmp_path / "h")
    assert again.manifest.kind == "hnsw" and len(again) == 49
    assert again.search(unit(50, 8)[7], k=1)[0].id == 7


def test_named_libraries_live_under_openbind_home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    assert library_path("photos") == tmp_path / "home" / "libraries" / "photos"
    assert resolve_library("photos") == tmp_path / "home" / "libraries" / "photos"
    assert resolve_library("./photos").name == "photos"
    Library.create(library_path("photos"), model_id="m", dim=4)
    assert list_libraries() == ["photos"]
    with pytest.raises(BadInput, match="library names"):
        library_path("../etc")


def test_reload_picks_up_another_writers_commit(lib):
    reader = Library.open(lib.path)
    assert reader.reload() is False
    lib.remove([0, 1])
    lib.commit()
    assert len(reader) == 9
    assert reader.reload() is True
    assert len(reader) == 7 and reader.manifest.generation == 3
    assert reader.search(unit(9, 8)[0], k=1)[0].id != 0


def test_failed_commit_keeps_previous_generation(lib, monkeypatch):
    import openbind.index.library as library_module

    def disk_full(path, text):
        raise OSError(28, "No space left on device")

    lib.remove([0])
    monkeypatch.setattr(library_module, "write_text_atomic", disk_full)
    with pytest.raises(VectorIndexError, match="No space left"):
        lib.commit()
    assert len(lib) == 9 and not lib.dirty
    monkeypatch.undo()
    assert len(Library.open(lib.path)) == 9
    lib.remove([0])
    lib.commit()
    assert len(Library.open(lib.path)) == 8
    assert not list(lib.path.glob(".staging-*"))


def test_read_only_library_is_a_typed_error_and_stays_readable(lib, monkeypatch):
    import openbind.index.library as library_module

    real_open = library_module.os.open

    def read_only(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(library_module.os, "open", read_only)
    with pytest.raises(VectorIndexError, match=r"cannot write library .*Permission denied"):
        lib.remove([0])
    assert not lib.dirty and len(lib) == 9
    monkeypatch.undo()
    assert lib.search(unit(9, 8)[0], k=1)[0].id == 0
    lib.remove([0])  # the write lock was released: writing works again
    lib.commit()
    assert len(Library.open(lib.path)) == 8
