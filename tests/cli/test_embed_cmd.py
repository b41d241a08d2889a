"""`openbind embed`: Parquet output, summary table and JSON, incremental reruns, exit codes."""

from __future__ import annotations

import json
import os

import pytest

from openbind.cli.main import main
from openbind.pipeline import read_embeddings
from tests.pipeline import toy_space


@pytest.fixture
def folder(tmp_path, monkeypatch):
    toy_space.register(monkeypatch)
    root = tmp_path / "media"
    root.mkdir()
    (root / "dog.txt").write_text("a dog barking")
    (root / "pic.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)))
    (root / "broken.jpg").write_bytes(b"CORRUPT")
    (root / "song.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    return root


def test_embed_json_summary_and_rerun(folder, tmp_path, capsys):
    out = tmp_path / "out.parquet"
    assert main(["embed", str(folder), "-o", str(out), "--model", "toyhash", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["embedded"], summary["total"], summary["output"]) == (2, 2, str(out))
    reasons = {os.path.basename(s["path"]): s["reason"] for s in summary["skipped"]}
    assert "corrupt toy file" in reasons["broken.jpg"] and "no audio tower" in reasons["song.wav"]
    table = read_embeddings(out)
    assert table.model_id == toy_space.MODEL_ID and len(table) == 2

    assert main(["embed", str(folder), "-o", str(out), "--model", "toyhash", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["embedded"], again["unchanged"], again["total"]) == (0, 2, 2)


def test_embed_table_output(folder, tmp_path, capsys):
    assert (
        main(
            [
                "embed",
                str(folder / "dog.txt"),
                "-o",
                str(tmp_path / "o.parquet"),
                "--model",
                "toyhash",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "embedded" in out and "files/s" in out and "o.parquet" in out


def test_embed_forced_modality(folder, tmp_path, capsys):
    out = tmp_path / "o.parquet"
    args = [
        "embed",
        str(folder / "dog.txt"),
        "-o",
        str(out),
        "--model",
        "toyhash",
        "--as",
        "depth",
        "--json",
    ]
    assert main(args) == 0
    assert read_embeddings(out).modalities[0].value == "depth"


def test_embed_bad_inputs_exit_2(folder, tmp_path, capsys):
    assert (
        main(
            [
                "embed",
                str(tmp_path / "missing"),
                "-o",
                str(tmp_path / "o.parquet"),
                "--model",
                "toyhash",
            ]
        )
        == 2
    )
    assert "no such file" in capsys.readouterr().err
    assert (
        main(["embed", str(folder), "-o", str(tmp_path / "o.parquet"), "--model", "nosuchmodel"])
        == 2
    )
    assert "unknown model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["embed", str(folder)])  # -o is required
    assert e.value.code == 2


def test_embed_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["embed", "--help"])
    assert "openbind embed photos/ -o photos.parquet" in capsys.readouterr().out
