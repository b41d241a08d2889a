"""`openbind classify`: zero-shot labels per file, modality detection, skipped files."""

from __future__ import annotations

import json

import pytest

from openbind.cli.main import main
from tests.pipeline import toy_space


@pytest.fixture
def files(tmp_path, monkeypatch):
    toy_space.register(monkeypatch)
    (tmp_path / "dog.txt").write_text("dog")
    (tmp_path / "cat.txt").write_text("cat")
    (tmp_path / "bad.jpg").write_bytes(b"CORRUPT")
    (tmp_path / "x.bin").write_bytes(b"??")
    return tmp_path


def test_classify_json(files, capsys):
    args = ["classify", str(files / "dog.txt"), str(files / "cat.txt"), str(files / "bad.jpg")]
    assert (
        main([*args, "--labels", "cat,dog", "--templates", "none", "--model", "toyhash", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in out["results"]] == ["dog", "cat"]
    top = out["results"][0]["top"]
    assert top[0]["probability"] > top[1]["probability"] and sum(
        t["probability"] for t in top
    ) == pytest.approx(1.0)
    assert out["errors"][0]["file"].endswith("bad.jpg") and "corrupt" in out["errors"][0]["error"]


def test_classify_table_and_skips(files, capsys):
    args = [
        "classify",
        str(files / "dog.txt"),
        str(files / "x.bin"),
        "--labels",
        "cat,dog",
        "--templates",
        "none",
    ]
    assert main([*args, "--model", "toyhash", "-k", "1"]) == 0
    captured = capsys.readouterr()
    assert "dog" in captured.out and "unsupported file type" in captured.err


def test_classify_forced_modality_and_failures(files, capsys):
    args = ["classify", str(files / "x.bin"), "--labels", "a,b", "--model", "toyhash", "--json"]
    assert main([*args, "--modality", "depth"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["modality"] == "depth"
    assert main(["classify", str(files / "x.bin"), "--labels", "a,b", "--model", "toyhash"]) == 2
    assert "no file could be classified" in capsys.readouterr().err
    assert main(["classify", str(files / "dog.txt"), "--labels", "a,a", "--model", "toyhash"]) == 2
    assert "duplicate" in capsys.readouterr().err
