"""build_library / index_files: build, incremental update, resume, space checks."""

from __future__ import annotations

import os

import numpy as np
import pytest

from openbind.errors import BadInput, IndexMismatch
from openbind.index import Library
from openbind.pipeline import LocalRunner, build_library, index_files
from openbind.types import Modality
from tests.pipeline.toy_space import MODEL_ID, make_space


@pytest.fixture
def space():
    return make_space()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    (root / "dog.txt").write_text("a dog barking")
    (root / "cat.txt").write_text("a cat sleeping on a warm mat")
    (root / "pic.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 3)
    (root / "bad.jpg").write_bytes(b"CORRUPT")
    return root


def names(lib: Library) -> list[str]:
    return sorted(os.path.basename(r.path) for r in lib.records())


def test_build_then_search_by_text(space, folder, tmp_path):
    lib, summary = build_library(space, tmp_path / "lib", [folder], progress=False)
    assert (summary.embedded, summary.total, len(summary.skipped)) == (3, 3, 1)
    assert lib.manifest.model_id == MODEL_ID and lib.manifest.roots == (str(folder.resolve()),)
    query = space.encode("text", ["a dog barking"])
    hits = Library.open(tmp_path / "lib", model_id=MODEL_ID).search(query, k=2)
    assert os.path.basename(hits[0].path) == "dog.txt" and hits[0].score == pytest.approx(
        1.0, abs=1e-5
    )
    assert hits[0].metadata["size"] == len("a dog barking")
    only_images = lib.search(query, k=5, modality="image")
    assert [h.modality for h in only_images] == [Modality.IMAGE]


def test_update_uses_roots_and_handles_changes(space, folder, tmp_path):
    lib, _ = build_library(space, tmp_path / "lib", [folder], progress=False)
    dog_id = next(r.id for r in lib.records() if r.path.endswith("dog.txt"))
    (folder / "cat.txt").write_text("a cat awake")
    (folder / "pic.jpg").rename(folder / "moved.jpg")
    (folder / "new.txt").write_text("waves on a beach")
    (folder / "dog.txt").touch()
    seen = []

    class Spy(LocalRunner):
        def run(self, todo, sink, *, progress=None):
            seen.extend(os.path.basename(t.path) for t in todo)
            return super().run(todo, sink, progress=progress)

    lib = Library.open(tmp_path / "lib")
    summary = index_files(Spy(space), lib, progress=False)
    assert sorted(seen) == ["bad.jpg", "cat.txt", "new.txt"]
    assert (summary.reused, summary.unchanged, summary.removed) == (1, 1, 2)
    again = Library.open(tmp_path / "lib")
    assert names(again) == ["cat.txt", "dog.txt", "moved.jpg", "new.txt"]
    assert next(r.id for r in again.records() if r.path.endswith("dog.txt")) == dog_id
    hit = again.search(space.encode("text", ["a cat awake"]), k=1)[0]
    assert hit.path.endswith("cat.txt") and hit.score == pytest.approx(1.0, abs=1e-5)


def test_build_resumes_after_interruption(space, folder, tmp_path):
    class Crash(LocalRunner):
        def run(self, todo, sink, *, progress=None):
            good = [t for t in todo if t.path.name != "bad.jpg"]
            super().run(good[:1], sink, progress=progress)
            raise KeyboardInterrupt

    first = Library.create(tmp_path / "lib", model_id=MODEL_ID, dim=16)
    with pytest.raises(KeyboardInterrupt):
        index_files(Crash(space), first, [folder], commit_every=1)
    first.close()  # drops what was not committed, like a killed process
    assert len(Library.open(tmp_path / "lib")) == 1
    lib, summary = build_library(space, tmp_path / "lib", [folder], progress=False)
    assert (
        summary.unchanged == 1
        and summary.embedded == 2
        and names(lib) == ["cat.txt", "dog.txt", "pic.jpg"]
    )


def test_other_space_and_no_roots_are_refused(space, folder, tmp_path):
    build_library(space, tmp_path / "lib", [folder], progress=False)
    other = make_space()
    other.model_id = "other_model.v1"
    with pytest.raises(IndexMismatch):
        build_library(other, tmp_path / "lib", [folder], progress=False)
    empty = Library.create(tmp_path / "empty", model_id=MODEL_ID, dim=16)
    with pytest.raises(BadInput, match="no roots"):
        index_files(space, empty, progress=False)


def test_hnsw_build(space, folder, tmp_path):
    lib, _ = build_library(
        space, tmp_path / "h", [folder], kind="hnsw", params={"m": 8}, progress=False
    )
    assert Library.open(tmp_path / "h").manifest.kind == "hnsw"
    v = lib.vectors([0])
    np.testing.assert_allclose(np.linalg.norm(v), 1.0, rtol=1e-5)
