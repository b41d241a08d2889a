"""Incremental updates of given paths, and following a library's folders with watchfiles."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from openbind.index import Library
from openbind.pipeline import build_library
from openbind.pipeline.to_library import update_paths
from openbind.pipeline.watch import WatchError, watch_library
from tests.pipeline.toy_space import make_space


@pytest.fixture
def space():
    return make_space()


@pytest.fixture
def built(space, tmp_path):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha alpha")
    (root / "sub" / "b.txt").write_text("beta beta")
    lib, _ = build_library(space, tmp_path / "lib", [root])
    return lib, root


def paths(lib: Library) -> list[str]:
    return sorted(Path(r.path).name for r in lib.records())


def test_update_paths_touches_only_the_given_paths(space, built):
    lib, root = built
    generation = lib.manifest.generation
    (root / "c.txt").write_text("gamma")
    (root / "a.txt").unlink()
    (root / ".hidden.txt").write_text("never")
    summary = update_paths(space, lib, [root / "c.txt", root / "a.txt", root / ".hidden.txt"])
    assert (summary.embedded, summary.removed, summary.total) == (1, 1, 2)
    assert paths(lib) == ["b.txt", "c.txt"] and lib.manifest.generation == generation + 1
    shutil.rmtree(root / "sub")
    assert update_paths(space, lib, [root / "sub"]).removed == 1
    generation = lib.manifest.generation
    assert update_paths(space, lib, [root / "c.txt"]).embedded == 0  # unchanged: no commit
    assert update_paths(space, lib, ["/elsewhere/x.txt"]).total == 1  # outside the roots
    assert lib.manifest.generation == generation


def wait_for(condition, timeout: float = 20.0) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise AssertionError("timed out")
        time.sleep(0.02)
    return time.perf_counter() - start


def test_watch_follows_the_folders_and_a_reader_sees_each_commit(space, built):
    lib, root = built
    reader = Library.open(lib.path)
    stop = threading.Event()
    errors: list[Exception] = []

    def run() -> None:
        try:
            watch_library(space, lib, stop=stop, debounce_ms=50)
        except Exception as e:  # handed to the test thread
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.5)  # let the watcher start
    try:
        (root / "sub" / "new.txt").write_text("delta delta")
        wait_for(lambda: (reader.reload(), "new.txt" in paths(reader))[1])
        assert "new.txt" in paths(reader)
        (root / "a.txt").unlink()
        wait_for(lambda: (reader.reload(), "a.txt" not in paths(reader))[1])
        assert paths(reader) == ["b.txt", "new.txt"]
        shutil.rmtree(root)
        thread.join(20)
        assert not thread.is_alive()
        assert isinstance(errors[0], WatchError) and "is gone" in str(errors[0])
        reader.reload()
        assert paths(reader) == ["b.txt", "new.txt"]  # a vanished root never empties it
    finally:
        stop.set()
        thread.join(5)
