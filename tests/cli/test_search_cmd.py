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


def test_vector_filter_and_offset(library, capsys, tmp_path, monkeypatch):
    import numpy as np

    import openbind
    from openbind.index import Library, resolve_library

    lib = Library.open(resolve_library("lib"))
    cat = next(r for r in lib.records() if r.path.endswith("cat.txt"))
    np.save(tmp_path / "q.npy", lib.vectors([cat.id])[0] * 3.0)
    lib.close()

    def no_model(*a, **k):
        raise AssertionError("a vector query must not load a model")

    monkeypatch.setattr(openbind, "load", no_model)
    capsys.readouterr()
    full = search_json(capsys, "--vector", str(tmp_path / "q.npy"), "-k", "3")
    assert os.path.basename(full["hits"][0]["path"]) == "cat.txt" and full["total"] == 3
    page = search_json(capsys, "--vector", str(tmp_path / "q.npy"), "-k", "1", "--offset", "1")
    assert page["hits"] == full["hits"][1:2]
    only = search_json(capsys, "--vector", str(tmp_path / "q.npy"), "--filter", "path=*.jpg")
    assert [os.path.basename(h["path"]) for h in only["hits"]] == ["pic.jpg"]
    np.save(tmp_path / "short.npy", np.ones(3, np.float32))
    np.save(tmp_path / "nan.npy", np.full(16, np.nan, np.float32))
    for args, message in (
        (["--vector", str(tmp_path / "short.npy")], "holds 16-d vectors"),
        (["--vector", str(tmp_path / "nan.npy")], "NaN"),
        (["--vector", str(tmp_path / "q.npy"), "--filter", "colour=red"], "unknown filter field"),
        (["--vector", str(tmp_path / "q.npy"), "--offset", "3"], "past the end: 3 items"),
    ):
        assert main(["search", "lib", *args]) == 2
        assert message in capsys.readouterr().err


def test_modality_checks_happen_before_the_model_loads(library, capsys, monkeypatch):
    import openbind

    def no_model(*a, **k):
        raise AssertionError("loaded")

    monkeypatch.setattr(openbind, "load", no_model)
    (library / "a.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    capsys.readouterr()
    assert main(["search", "lib", "--audio", str(library / "a.wav")]) == 1
    assert (
        "cannot embed audio; it embeds: text, image, video, depth, imu" in capsys.readouterr().err
    )
    assert main(["search", "lib", "--image", str(library / "a.wav")]) == 2
    assert "is WAV (audio), not image" in capsys.readouterr().err


def test_file_flag_detects_the_modality_by_content(library, capsys):
    (library / "photo.wav").write_bytes((library / "pic.jpg").read_bytes())
    capsys.readouterr()
    result = search_json(capsys, "--file", str(library / "photo.wav"), "-k", "1")
    assert result["query"][0]["modality"] == "image"
    assert os.path.basename(result["hits"][0]["path"]) == "pic.jpg"


def test_server_flag_queries_a_running_server(library, capsys):
    import socket
    import threading
    import time

    import uvicorn

    import openbind
    from openbind.index import Library, resolve_library
    from openbind.serve.app import create_app
    from openbind.serve.service import Service

    lib = Library.open(resolve_library("lib"))
    app = create_app(Service(openbind.load(lib.model_id), lib))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        capsys.readouterr()
        local = search_json(capsys, "a dog barking", "-k", "2")
        remote = search_json(capsys, "a dog barking", "-k", "2", "--server", url)
        assert [os.path.basename(h["path"]) for h in remote["hits"]] == [
            os.path.basename(h["path"]) for h in local["hits"]
        ]
        assert remote["hits"][0]["score"] == pytest.approx(local["hits"][0]["score"], abs=1e-5)
        pic = search_json(capsys, "--image", str(library / "pic.jpg"), "-k", "1", "--server", url)
        assert os.path.basename(pic["hits"][0]["path"]) == "pic.jpg"
        assert main(["search", "lib", "dog", "--filter", "colour=red", "--server", url]) == 2
        assert "unknown filter field" in capsys.readouterr().err
    finally:
        server.should_exit = True
        thread.join(10)
        lib.close()
    assert main(["search", "lib", "dog", "--server", url]) == 1
    assert "cannot reach" in capsys.readouterr().err
