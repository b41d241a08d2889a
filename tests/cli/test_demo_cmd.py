"""`openbind demo` end to end with the starter space, in a fresh OPENBIND_HOME."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openbind.cli import demo_cmd
from openbind.cli.main import main
from openbind.index import Library, library_path
from openbind.registry import get


def test_demo_on_a_fresh_home_finds_the_expected_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    has_audio = "audio" in get("starter").modalities  # the starter gains audio later
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "160")
    report = tmp_path / "out" / "report.html"
    assert main(["demo", "--report", str(report)]) == 0
    out = capsys.readouterr().out

    assert "weights: starter_base.v1 (384-d; text, image, video" in out
    if has_audio:  # audio queries run; whether they hit is up to the audio tower
        assert "text → audio: 'a person speaking'" in out
    else:
        assert (
            "has no audio tower, so the 8 audio samples are not indexed and audio queries are skipped"
            in out
        )
        assert "8/8 queries put the expected file first." in out
    titles = re.findall(r"^\s*(.+?) ✓\s*$", out, flags=re.MULTILINE)
    assert titles[:8] == [
        "text → image: 'a cat'",
        "text → image: 'a rocket'",
        "text → image: 'a cup of coffee'",
        "text → image: 'a motorcycle'",
        "image → image: 'mirrored images/chelsea.png'",
        "text → video: 'a bouncing red ball'",
        "text → video: 'a cat'",
        "image → video: 'images/rocket.jpg'",
    ]
    assert re.search(r"→ (image|video): .* ✗", out) is None
    assert re.search(r"images/chelsea\.png\s+│ cat \d+%", out)
    assert re.search(r"images/coffee\.png\s+│ cup of coffee \d+%", out)
    assert "openbind serve --index demo" in out

    lib = Library.open(library_path("demo"))
    assert lib.model_id == "starter_base.v1"
    counts = lib.info().modalities
    assert {m: n for m, n in counts.items() if m != "audio"} == {"image": 10, "video": 4, "text": 5}
    assert counts.get("audio", 0) == (8 if has_audio else 0)

    page = report.read_text()
    assert page.count('class="card expected"') >= 8
    assert page.count("data:image/jpeg;base64,") >= 8 * 3 + 1
    assert str(tmp_path / "home" / "samples" / "v1") in page


def test_queries_cover_the_promised_directions() -> None:
    titles = {q.title for q in demo_cmd.QUERIES}
    assert {"text → image", "image → image", "text → video"} <= titles
    assert {q.only for q in demo_cmd.AUDIO_QUERIES} | {
        q.modality for q in demo_cmd.AUDIO_QUERIES
    } >= {"audio"}


def test_demo_with_an_audio_space_indexes_audio_and_runs_audio_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    import openbind
    from tests.serve.conftest import colour_space

    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(openbind, "load", lambda name, **_: colour_space(), raising=False)
    out = io.StringIO()
    outcomes, labels = demo_cmd.demo(
        "toy", "colours", tmp_path / "r.html", 2, Console(file=out, width=160)
    )
    text = out.getvalue()
    assert (
        "weights: toy_colour.test (3-d; text, image, audio, video)\n" in text
    )  # unregistered: no licence line
    assert "no audio tower" not in text
    assert [o.query.title for o in outcomes][-3:] == ["text → audio"] * 3
    assert all(len(o.rows) == 2 for o in outcomes)
    assert {r.modality for o in outcomes[-3:] for r in o.rows} == {"audio"}
    lib = Library.open(library_path("colours"))
    assert lib.info().modalities == {"image": 10, "video": 4, "audio": 8, "text": 5}
    assert set(labels) == set(demo_cmd.CLASSIFY)
    misses = [o for o in outcomes if not o.hit]
    assert misses  # colours know no cats: those queries are marked, not hidden
    assert text.count("✗ expected") == len(misses)
    assert (
        f"{len(outcomes) - len(misses)}/{len(outcomes)} queries put the expected file first."
        in text
    )
    assert (tmp_path / "r.html").read_text().count('class="miss"') == len(misses)
