"""`openbind serve`: arguments to app, settings, library and uvicorn call (uvicorn itself mocked)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

import openbind
from openbind.cli import main as cli
from openbind.cli import serve_cmd
from openbind.errors import IndexMismatch
from openbind.index import Library
from openbind.space.model import SpaceModel
from tests.serve.conftest import colour_space, make_library, make_media


def _args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["serve", *argv])


@pytest.fixture
def space() -> SpaceModel:
    return colour_space()


@pytest.fixture
def library(tmp_path: Path, space: SpaceModel) -> Library:
    return make_library(tmp_path / "lib", space, make_media(tmp_path / "media"))


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch, space: SpaceModel) -> Iterator[list[str]]:
    """`openbind.load` gives the colour space (renamed if asked for another) and records names."""
    names: list[str] = []

    def fake_load(name: str, **_: object) -> SpaceModel:
        names.append(name)
        if name not in ("starter", space.model_id):
            other = colour_space()
            other.model_id = name
            return other
        return space

    monkeypatch.setattr(openbind, "load", fake_load, raising=False)
    monkeypatch.delenv(serve_cmd.API_KEY_ENV, raising=False)
    threads = torch.get_num_threads()
    yield names
    torch.set_num_threads(threads)  # `build` sets this process's to one


def test_defaults_bind_loopback_and_load_starter(loaded: list[str]) -> None:
    args = _args()
    assert (args.host, args.port, args.index, args.api_key) == ("127.0.0.1", 8000, None, None)
    app, settings = serve_cmd.build(args)
    assert loaded == ["starter"]
    assert settings.api_key is None
    assert settings.max_upload_bytes == 32 * 2**20
    with TestClient(app) as c:
        assert c.get("/health").json()["library"] is None


def test_index_by_path_picks_its_model_and_serves_search(
    loaded: list[str], library: Library
) -> None:
    app, _ = serve_cmd.build(_args("--index", str(library.path), "--labels", "red, green ,blue"))
    assert loaded == ["toy_colour.test"]  # the library's model
    with TestClient(app) as c:
        assert c.get("/health").json()["items"] == 6
        top = c.post("/search", data={"text": "blue", "k": "1", "modality": "image"}).json()[
            "hits"
        ][0]
        assert Path(top["path"]).name == "blue.png"
        labels = c.post("/classify", data={"text": "green"}).json()["labels"]
        assert labels[0]["label"] == "green"
        assert {x["label"] for x in labels} == {"red", "green", "blue"}


def test_index_by_name_under_openbind_home(
    loaded: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, space: SpaceModel
) -> None:
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    Library.create(
        tmp_path / "home" / "libraries" / "colours", model_id=space.model_id, dim=3
    ).close()
    app, _ = serve_cmd.build(_args("--index", "colours"))
    with TestClient(app) as c:
        assert c.get("/health").json()["library"] == "colours"


def test_missing_library_is_a_usage_error(
    loaded: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--index", str(tmp_path / "nope")]) == cli.EXIT_USAGE
    assert "no library at" in capsys.readouterr().err
    assert loaded == []


def test_library_of_another_space_is_refused(loaded: list[str], library: Library) -> None:
    with pytest.raises(IndexMismatch, match=r"built with toy_colour\.test"):
        serve_cmd.build(_args("--index", str(library.path), "--model", "other_model.x"))


def test_api_key_from_flag_or_environment(
    loaded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, settings = serve_cmd.build(_args("--api-key", "k1"))
    assert settings.api_key == "k1"
    with TestClient(app) as c:
        assert c.get("/models").status_code == 401
        assert c.get("/models", headers={"Authorization": "Bearer k1"}).status_code == 200
    monkeypatch.setenv(serve_cmd.API_KEY_ENV, "from-env")
    _, settings = serve_cmd.build(_args())
    assert settings.api_key == "from-env"


def test_run_hands_the_app_to_uvicorn(
    loaded: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    code = cli.main(["serve", "--port", "9123", "--rate-limit", "0", "--max-upload-mb", "1"])
    assert code == 0
    assert len(calls) == 1
    assert (calls[0]["host"], calls[0]["port"]) == ("127.0.0.1", 9123)
    err = capsys.readouterr().err
    assert "serving toy_colour.test with no library" in err
    assert "http://127.0.0.1:9123/" in err
    assert "warning" not in err


def test_public_host_without_key_warns(
    loaded: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 0
    assert "no --api-key is set" in capsys.readouterr().err


def test_serve_watch_indexes_new_files_for_the_running_app(
    loaded: list[str], library: Library, tmp_path: Path
) -> None:
    import time

    from tests.serve.conftest import png

    app, _ = serve_cmd.build(_args("--index", str(library.path), "--watch"))
    service = app.state.service
    stop = serve_cmd.start_watch(service, _args("--index", str(library.path), "--watch"))
    try:
        time.sleep(1.0)
        (tmp_path / "media" / "crimson.png").write_bytes(png((250, 0, 0)))
        with TestClient(app) as client:
            deadline = time.time() + 30
            names: list[str] = []
            while "crimson.png" not in names and time.time() < deadline:
                time.sleep(0.1)
                body = client.get("/search", params={"q": "red", "k": 10}).json()
                names = [Path(h["path"]).name for h in body["hits"]]
            assert "crimson.png" in names and body["total"] == 7, [h["path"] for h in body["hits"]]
    finally:
        stop.set()


def test_the_model_runs_in_worker_processes_set_by_model_workers_and_threads(
    loaded: list[str],
) -> None:
    app, _ = serve_cmd.build(_args("--model-workers", "3", "--threads", "2"))
    batcher = app.state.service._batcher
    assert (batcher.processes, batcher.light_workers, batcher.light_threads) == (True, 3, 2)
    assert torch.get_num_threads() == 1  # loaded on one thread: the workers fork from here
    default = serve_cmd.build(_args())[0].state.service._batcher
    assert (default.light_workers, default.light_threads) == (2, 1)
    with pytest.raises(SystemExit):
        _args("--model-workers", "0")
