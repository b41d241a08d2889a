"""`openbind search`: text, file and composed queries, filters, JSON, errors."""

from __future__ import annotations

import json
import os

import pytest

from openbind.cli.main import main
from tests.pipeline import toy_space


@pytest.fixture
def library(tmp_path, monkeypatch):
    toy_space.register(monkeypatch)
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    root = tmp_path / "media"
    root.mkdir()
    (root / "dog.txt").write_text("a dog barking")
    (root / "cat.txt").write_text("a cat sleeping on the mat")
    (root / "pic.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 2)
    assert main(["index", "build", str(root), "--name", "lib", "--model", "toyhash", "--json"]) == 0
    return root


def search_json(capsys, *args: str) -> dict:
    assert main(["search", "lib", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_text_query_finds_identical_text_first(library, capsys):
    capsys.readouterr()
    result = search_json(capsys, "a dog barking", "-k", "2")
    hits = result["hits"]
    assert len(hits) == 2 and os.path.basename(hits[0]["path"]) == "dog.txt"
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-5) and hits[0]["modality"] == "text"
    assert result["model_id"] == toy_space.MODEL_ID


def test_file_query_and_modality_filter(library, capsys):
    capsys.readouterr()
    hits = search_json(capsys, "--image", str(library / "pic.jpg"))["hits"]
    assert os.path.basename(hits[0]["path"]) == "pic.jpg" and hits[0]["score"] == pytest.approx(
        1.0, abs=1e-5
    )
    only_text = search_json(capsys, "--image", str(library / "pic.jpg"), "--modality", "text")[
        "hits"
    ]
    assert {h["modality"] for h in only_text} == {"text"} and len(only_text) == 2


def test_composed_query_weights_follow_part_order(library, capsys):
    capsys.readouterr()
    pic = str(library / "pic.jpg")
    text_heavy = search_json(capsys, "a dog barking", "--image", pic, "--weight", "1,0.001")
    assert os.path.basename(text_heavy["hits"][0]["path"]) == "dog.txt"
    assert [q["weight"] for q in text_heavy["query"]] == [1.0, 0.001]
    image_heavy = search_json(capsys, "a dog barking", "--image", pic, "--weight", "0.001,1")
    assert os.path.basename(image_heavy["hits"][0]["path"]) == "pic.jpg"
    both = search_json(capsys, "a dog barking", "--image", pic)["hits"]
    assert 0.5 < both[0]["score"] < 1.0


def test_table_output(library, capsys):
    capsys.readouterr()
    assert main(["search", "lib", "a dog barking", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert "dog.txt" in out and "1.000" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a text query"),
        (["--image", "nope.jpg"], "no such file"),
        (["dog", "--weight", "1,2"], "2 values for 1 query parts"),
        (["dog", "--weight", "x"], "numbers separated by commas"),
        (["dog", "--modality", "smell"], "unknown modality"),
        (["dog", "-k", "0"], "-k must be"),
    ],
)
def test_bad_queries_exit_2(library, capsys, args, message):
    capsys.readouterr()
    assert main(["search", "lib", *args]) == 2
    assert message in capsys.readouterr().err


def test_missing_tower_exits_1(library, capsys):
    (library / "a.wav").write_bytes(b"RIFF")
    capsys.readouterr()
    assert main(["search", "lib", "--audio", str(library / "a.wav")]) == 1
    assert "audio" in capsys.readouterr().err
