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


def test_tags_sidecar_and_misleading_extension(folder, capsys):
    (folder / "photo.wav").write_bytes((folder / "pic.jpg").read_bytes())  # a JPEG named .wav
    (folder / "tags.csv").write_text("path,place\ndog.txt,park\npic.jpg,beach\n")
    args = ["index", "build", str(folder), "--name", "t", "--model", "toyhash", "--json"]
    assert main([*args, "--tags", str(folder / "tags.csv")]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["warnings"] == [
        {"path": str(folder / "photo.wav"), "reason": "a JPEG named .wav: embedded as image"}
    ]
    assert main(["search", "t", "dog", "--filter", "tag.place=beach", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [os.path.basename(h["path"]) for h in hits] == ["pic.jpg"]
    assert hits[0]["metadata"]["extra"] == {"tags": {"place": "beach"}}
    lib = Library.open(os.path.join(os.environ["OPENBIND_HOME"], "libraries", "t"))
    assert {os.path.basename(r.path): r.modality.value for r in lib.records()}[
        "photo.wav"
    ] == "image"


@pytest.mark.slow
def test_build_with_ray_on_a_local_instance(folder, tmp_path, capsys, monkeypatch):
    ray = pytest.importorskip("ray")
    from pathlib import Path

    from openbind.pipeline import RayRunner

    root = Path(__file__).resolve().parents[2]

    def for_model(name, **options):  # the actors build the toy space (not registered there)
        return RayRunner(
            toy_space.make_space,
            model_id=toy_space.MODEL_ID,
            dim=toy_space.DIM,
            modalities=toy_space.MODALITIES,
            **options,
        )

    monkeypatch.setattr(RayRunner, "for_model", staticmethod(for_model))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": f"{root / 'src'}:{root}"}},
    )
    try:
        args = ["index", "build", str(folder), "--name", "r", "--model", "toyhash", "--json"]
        assert main([*args, "--ray", "--ray-actors", "1"]) == 0
        built = json.loads(capsys.readouterr().out)
        assert built["embedded"] == 3
        (folder / "new.txt").write_text("rain on a roof")
        assert main(["index", "update", "r", "--ray", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["embedded"] == 1
    finally:
        ray.shutdown()
    assert main(["search", "r", "rain on a roof", "-k", "1", "--json"]) == 0
    hit = json.loads(capsys.readouterr().out)["hits"][0]
    assert os.path.basename(hit["path"]) == "new.txt" and hit["score"] > 0.999


def test_milvus_backend_builds_updates_filters_and_serves(folder, tmp_path, capsys):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    uri = str(tmp_path / "vectors.db")
    args = ["index", "build", str(folder), "--name", "mv", "--model", "toyhash", "--json"]
    assert main([*args, "--backend", "milvus", "--uri", uri]) == 0
    assert json.loads(capsys.readouterr().out)["embedded"] == 3
    (folder / "dog.txt").unlink()
    (folder / "rain.txt").write_text("rain on a roof")
    assert main(["index", "update", "mv", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["embedded"], summary["removed"], summary["total"]) == (1, 1, 3)
    assert main(["search", "mv", "rain on a roof", "-k", "5", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert os.path.basename(hits[0]["path"]) == "rain.txt" and hits[0]["score"] > 0.999
    assert "dog.txt" not in {os.path.basename(h["path"]) for h in hits}
    assert main(["search", "mv", "rain", "--filter", "modality=image", "--json"]) == 0
    assert [h["modality"] for h in json.loads(capsys.readouterr().out)["hits"]] == ["image"]
    lib = Library.open(os.path.join(os.environ["OPENBIND_HOME"], "libraries", "mv"))
    assert lib.manifest.kind == "milvus" and len(lib) == 3
    from fastapi.testclient import TestClient

    import openbind
    from openbind.serve.app import create_app
    from openbind.serve.service import Service

    with TestClient(create_app(Service(openbind.load(lib.model_id), lib))) as client:
        body = client.post("/search", json={"q": "rain on a roof", "k": 2}).json()
        assert body["hits"][0]["path"] == "media/rain.txt" and body["total"] == 3
    lib.close()


def test_index_watch_follows_the_folder_until_it_disappears(folder, capsys):
    import shutil
    import threading
    import time

    assert main(["index", "build", str(folder), "--name", "w", "--model", "toyhash", "--json"]) == 0
    capsys.readouterr()
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(["index", "watch", "w"])))
    thread.start()
    reader = Library.open(os.path.join(os.environ["OPENBIND_HOME"], "libraries", "w"))
    time.sleep(1.0)
    (folder / "new.txt").write_text("fresh rain")
    deadline = time.time() + 30
    while not reader.find({"path_glob": "new.txt"}) and time.time() < deadline:
        time.sleep(0.05)
        reader.reload()
    assert reader.find({"path_glob": "new.txt"})
    shutil.rmtree(folder)
    thread.join(30)
    assert codes == [2]
    assert "is gone; library w keeps its items" in capsys.readouterr().err
    reader.reload()
    assert len(reader) == 4
