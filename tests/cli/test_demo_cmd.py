"""`openbind demo` end to end with the starter space, in a fresh OPENBIND_HOME."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openbind.cli import demo_cmd
from openbind.cli.main import main
from openbind.index import Library, library_path


def test_demo_on_a_fresh_home_finds_the_expected_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "160")
    report = tmp_path / "out" / "report.html"
    assert main(["demo", "--report", str(report)]) == 0
    out = capsys.readouterr().out

    assert "weights: starter_base.v1 (384-d; text, image, video)" in out
    assert (
        "has no audio tower, so the 8 audio samples are not indexed and audio queries are skipped"
        in out
    )
    titles = re.findall(r"^\s*(.+?) ✓\s*$", out, flags=re.MULTILINE)
    assert titles == [
        "text → image: 'a cat'",
        "text → image: 'a rocket'",
        "text → image: 'a cup of coffee'",
        "text → image: 'a motorcycle'",
        "image → image: 'mirrored images/chelsea.png'",
        "text → video: 'a bouncing red ball'",
        "text → video: 'a cat'",
        "image → video: 'images/rocket.jpg'",
    ]
    assert "✗" not in out
    assert "8/8 queries put the expected file first." in out
    assert re.search(r"images/chelsea\.png\s+│ cat \d+%", out)
    assert re.search(r"images/coffee\.png\s+│ cup of coffee \d+%", out)
    assert "openbind serve --index demo" in out

    lib = Library.open(library_path("demo"))
    assert lib.model_id == "starter_base.v1"
    assert lib.info().modalities == {"image": 10, "video": 4, "text": 5}

    page = report.read_text()
    assert page.count('class="card expected"') == 8
    assert page.count("data:image/jpeg;base64,") >= 8 * 3 + 1
    assert "8/8 queries put the expected file first" in page
    assert str(tmp_path / "home" / "samples" / "v1") in page


def test_queries_cover_the_promised_directions() -> None:
    titles = {q.title for q in demo_cmd.QUERIES}
    assert {"text → image", "image → image", "text → video"} <= titles
    assert {q.only for q in demo_cmd.AUDIO_QUERIES} | {
        q.modality for q in demo_cmd.AUDIO_QUERIES
    } >= {"audio"}
