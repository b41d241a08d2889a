"""`openbind index build|update|info|list`: named and path libraries, JSON, exit codes."""

from __future__ import annotations

import json
import os

import pytest

from openbind.cli.main import main
from openbind.index import Library
from tests.pipeline import toy_space


@pytest.fixture
def folder(tmp_path, monkeypatch):
    toy_space.register(monkeypatch)
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    root = tmp_path / "media"
    root.mkdir()
    (root / "dog.txt").write_text("a dog barking")
    (root / "cat.txt").write_text("a cat sleeping")
    (root / "pic.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)))
    return root


def test_build_named_then_update_and_info(folder, tmp_path, capsys):
    assert (
        main(["index", "build", str(folder), "--name", "media", "--model", "toyhash", "--json"])
        == 0
    )
    built = json.loads(capsys.readouterr().out)
    assert built["embedded"] == 3 and built["output"] == str(
        tmp_path / "home" / "libraries" / "media"
    )

    (folder / "cat.txt").unlink()
    (folder / "new.txt").write_text("rain")
    assert main(["index", "update", "media", "--json"]) == 0
    updated = json.loads(capsys.readouterr().out)
    assert (updated["embedded"], updated["removed"], updated["unchanged"], updated["total"]) == (
        1,
        1,
        2,
        3,
    )

    assert main(["index", "info", "media", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_id"] == toy_space.MODEL_ID and info["dim"] == 16
    assert info["modalities"] == {"image": 1, "text": 2} and info["roots"] == [
        str(folder.resolve())
    ]
    assert info["kind"] == "flat" and info["generation"] >= 2

    assert main(["index", "info", "media"]) == 0
    table = capsys.readouterr().out
    assert "toyhash_small.v1" in table and "image: 1, text: 2" in table

    assert main(["index", "list", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["media"]


def test_build_hnsw_at_path(folder, tmp_path, capsys):
    path = tmp_path / "lib"
    args = [
        "index",
        "build",
        str(folder),
        "--path",
        str(path),
        "--model",
        "toyhash",
        "--kind",
        "hnsw",
    ]
    assert main([*args, "--ef-search", "99", "--hnsw-m", "8"]) == 0
    lib = Library.open(path)
    assert lib.manifest.kind == "hnsw" and lib.manifest.params["ef_search"] == 99
    assert sorted(os.path.basename(r.path) for r in lib.records()) == [
        "cat.txt",
        "dog.txt",
        "pic.jpg",
    ]
    assert "embedded" in capsys.readouterr().out


def test_missing_library_and_usage_errors(folder, tmp_path, capsys):
    assert main(["index", "info", "nothere"]) == 1
    assert "not an openbind library" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["index", "build", str(folder)])  # --name or --path required
    assert e.value.code == 2
    assert main(["index", "build", str(folder), "--name", "../x", "--model", "toyhash"]) == 2
    assert "library names" in capsys.readouterr().err


def test_update_with_a_missing_root_changes_nothing(folder, tmp_path, capsys):
    assert (
        main(["index", "build", str(folder), "--name", "media", "--model", "toyhash", "--json"])
        == 0
    )
    folder.rename(tmp_path / "unmounted")
    assert main(["index", "update", "media"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert len(Library.open(tmp_path / "home" / "libraries" / "media")) == 3
