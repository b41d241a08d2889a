"""The issue's bad-input list for libraries: each case is a typed error (and exit code from the
CLI), and the last committed generation stays readable by the writer and by a fresh reader.

Covered elsewhere: unknown filter fields per field (test_filters.py), a watched folder that
disappears (tests/pipeline/test_watch.py), a read-only lock file and a full disk while writing a
segment or CURRENT (test_library.py, test_segments.py).
"""

from __future__ import annotations

import errno
import json
import sqlite3

import numpy as np
import pytest

import openbind.index.library as library_module
from openbind.cli.main import main
from openbind.errors import BadInput, IndexMismatch, VectorIndexError
from openbind.index import Library, Record
from openbind.index.metadata import MetadataStore


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def lib(tmp_path):
    lib = Library.create(tmp_path / "lib", model_id="custom-space", dim=8)
    lib.add(unit(6, 8), [Record(f"f{i}.jpg", "image", size=10 * i) for i in range(6)])
    lib.commit()
    return lib


def still_served(lib: Library, generation: int, count: int = 6) -> None:
    """The writer and a fresh reader both see `generation` with `count` items, searchable."""
    assert not lib.dirty and len(lib) == count
    assert lib.search(unit(6, 8)[3], k=1)[0].id == 3
    reader = Library.open(lib.path)
    assert reader.manifest.generation == generation and len(reader) == count
    assert reader.search(unit(6, 8)[3], k=1)[0].id == 3
    reader.close()


def test_unknown_filter_field(lib, capsys, tmp_path):
    generation = lib.manifest.generation
    with pytest.raises(BadInput, match="unknown filter field 'colour'") as info:
        lib.search(unit(1, 8)[0], filter={"colour": "red"})
    assert info.value.source == "filter.colour"
    np.save(tmp_path / "q.npy", unit(1, 8)[0])
    capsys.readouterr()
    code = main(
        ["search", str(lib.path), "--vector", str(tmp_path / "q.npy"), "--filter", "colour=red"]
    )
    assert code == 2 and "unknown filter field 'colour'" in capsys.readouterr().err
    still_served(lib, generation)


@pytest.mark.parametrize(
    ("vectors", "error", "message"),
    [
        (np.ones((1, 5), np.float32), IndexMismatch, "5-d vectors"),
        (np.full((1, 8), np.nan, np.float32), BadInput, "NaN"),
        (np.full((1, 8), 3.0, np.float32), BadInput, "L2-normalised"),
        (np.ones((2, 2, 8), np.float32), BadInput, "shape"),
    ],
)
def test_malformed_vectors_are_refused_before_anything_is_written(lib, vectors, error, message):
    generation = lib.manifest.generation
    with pytest.raises(error, match=message):
        lib.add(vectors, [Record(f"new{i}", "image") for i in range(len(vectors))])
    still_served(lib, generation)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (np.array([1.0, np.nan] + [0.0] * 6, np.float32), "NaN"),
        (np.zeros(8, np.float32), "all zeros"),
        (np.ones((2, 8), np.float32), "one vector"),
        (np.ones(5, np.float32), "holds 8-d vectors"),
    ],
)
def test_malformed_query_vectors_exit_2(lib, capsys, tmp_path, content, message):
    np.save(tmp_path / "q.npy", content)
    capsys.readouterr()
    assert main(["search", str(lib.path), "--vector", str(tmp_path / "q.npy")]) == 2
    assert message in capsys.readouterr().err
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    assert main(["search", str(lib.path), "--vector", str(tmp_path / "bad.npy")]) == 2
    assert "cannot read a vector" in capsys.readouterr().err
    still_served(lib, lib.manifest.generation)


def test_offset_past_the_end(lib, capsys, tmp_path):
    np.save(tmp_path / "q.npy", unit(1, 8)[0])
    capsys.readouterr()
    args = ["search", str(lib.path), "--vector", str(tmp_path / "q.npy"), "--json"]
    assert main([*args, "--offset", "6"]) == 2
    assert "offset 6 is past the end: 6 items match" in capsys.readouterr().err
    assert main([*args, "--offset", "5"]) == 0
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 1
    still_served(lib, lib.manifest.generation)


def test_disk_full_while_committing_the_metadata(lib, monkeypatch):
    generation = lib.manifest.generation

    def full(self):
        raise sqlite3.OperationalError("database or disk is full")

    lib.add(unit(1, 8, seed=9), [Record("late.jpg", "image")])
    lib.remove([0])
    monkeypatch.setattr(MetadataStore, "commit", full)
    with pytest.raises(VectorIndexError, match="disk is full"):
        lib.commit()
    monkeypatch.undo()
    still_served(lib, generation)
    lib.add(unit(1, 8, seed=9), [Record("late.jpg", "image")])  # rolled back: can be added again
    lib.commit()
    assert Library.open(lib.path).manifest.generation == generation + 1


def test_read_only_folder_while_writing_a_segment(lib, monkeypatch):
    """The lock file could be opened (it was there before) but nothing new can be created."""
    generation = lib.manifest.generation

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(library_module, "write_segment", read_only)
    lib.add(unit(1, 8, seed=9), [Record("late.jpg", "image")])
    with pytest.raises(VectorIndexError, match="Read-only file system"):
        lib.commit()
    monkeypatch.undo()
    still_served(lib, generation)
    assert not list((lib.path / "segments").glob(".*"))  # no temporary files left behind
