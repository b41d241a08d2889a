"""End to end with the offline starter space: the real `openbind` executable builds a library of
real photos; search and classify then run in-process on it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from openbind.cli.main import main

pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("e2e")
    media = root / "media"
    media.mkdir()
    for name in ("chelsea", "coffee", "rocket"):
        Image.fromarray(getattr(data, name)()).save(media / f"{name}.jpg")
    (media / "note.txt").write_text("a cup of hot coffee on a saucer")
    (media / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    exe = shutil.which("openbind", path=str(Path(sys.executable).parent))
    assert exe is not None, "the openbind entry point is not installed"
    env = {**os.environ, "OPENBIND_HOME": str(root / "home")}
    proc = subprocess.run(
        [exe, "index", "build", str(media), "--name", "photos", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return root, json.loads(proc.stdout)


def test_build_through_the_entry_point(built):
    _, summary = built
    assert summary["embedded"] == 4 and summary["total"] == 4
    assert [os.path.basename(s["path"]) for s in summary["skipped"]] == ["broken.jpg"]
    assert summary["skipped"][0]["reason"] == "not an image Pillow can read"


def test_search_and_classify_with_starter(built, monkeypatch, capsys):
    root, _ = built
    monkeypatch.setenv("OPENBIND_HOME", str(root / "home"))
    assert main(["search", "photos", "a cat", "-k", "2", "--modality", "image", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert (
        os.path.basename(hits[0]["path"]) == "chelsea.jpg" and hits[0]["score"] > hits[1]["score"]
    )

    coffee = str(root / "media" / "coffee.jpg")
    assert main(["search", "photos", "--image", coffee, "--modality", "text", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [os.path.basename(h["path"]) for h in hits] == ["note.txt"]

    files = [str(root / "media" / f"{n}.jpg") for n in ("chelsea", "coffee", "rocket")]
    assert main(["classify", *files, "--labels", "cat,dog,cup of coffee,rocket", "--json"]) == 0
    labels = [r["label"] for r in json.loads(capsys.readouterr().out)["results"]]
    assert labels == ["cat", "cup of coffee", "rocket"]
