"""`openbind eval`: table, JSON, plot, --compare, cache reuse across runs, layout errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openbind.cli.main import main
from tests.eval import fake_space, make_data


@pytest.fixture
def esc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_space.register(monkeypatch)
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    return make_data.esc50(tmp_path / "esc")


def run_json(capsys, *args: str) -> dict:
    assert main(["eval", *args, "--model", "fakewords", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_zero_shot_json_compare_and_plot(esc: Path, tmp_path: Path, capsys) -> None:
    png = tmp_path / "acc.png"
    out = run_json(
        capsys, "zero-shot", str(esc), "--layout", "esc50", "--compare", "--plot", str(png)
    )
    assert out["metrics"]["top1"] == 100.0 and out["settings"]["templates"] == "esc50"
    assert out["provenance"]["model_id"] == "fakewords_small.v1"
    assert out["provenance"]["card"]["description"] == "test space"
    measured = [r for r in out["compare"] if r["kind"] == "measured"]
    published = [r for r in out["compare"] if r["kind"] == "published"]
    assert measured == [
        {
            "model": "fakewords_small.v1",
            "metric": "top1",
            "value": 100.0,
            "kind": "measured",
            "source": "openbind",
            "note": "",
        }
    ]
    assert {"model": "ImageBind (huge)", "metric": "top1", "value": 66.9} in [
        {k: r[k] for k in ("model", "metric", "value")} for r in published
    ]
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5000


def test_second_protocol_reads_the_cache(esc: Path, capsys) -> None:
    first = run_json(capsys, "zero-shot", str(esc), "--layout", "esc50")
    again = run_json(capsys, "zero-shot", str(esc), "--layout", "esc50", "--templates", "default")
    assert first["counts"]["encoded"] == 15 + 3 * 4  # clips + 3 classes x 4 esc50 prompts
    assert (
        again["counts"]["encoded"] == 3 and again["counts"]["from_cache"] == 15
    )  # new prompts only


def test_retrieval_table_and_plot(tmp_path: Path, monkeypatch, capsys) -> None:
    fake_space.register(monkeypatch)
    monkeypatch.setenv("COLUMNS", "220")  # rich folds long cells on narrow terminals
    root = make_data.clotho(tmp_path / "clotho")
    png = tmp_path / "recall.png"
    args = ["eval", "retrieval", str(root), "--layout", "clotho", "--model", "fakewords"]
    assert main([*args, "--no-cache", "--compare", "--plot", str(png), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "text->audio R@1" in out and "100.00" in out
    assert "published" in out and "LanguageBind (large)" in out and "measured" in out
    assert png.stat().st_size > 5000


def test_linear_probe_writes_the_report(esc: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "report.json"
    out = run_json(
        capsys,
        "linear-probe",
        str(esc),
        "--layout",
        "esc50",
        "--shots",
        "1",
        "--output",
        str(target),
    )
    assert out["settings"]["shots"] == 1 and out["counts"]["splits"] == 5
    assert json.loads(target.read_text())["metrics"] == out["metrics"]


def test_benchmark_name_selects_the_published_rows(tmp_path: Path, monkeypatch, capsys) -> None:
    fake_space.register(monkeypatch)
    root = make_data.imagefolder(tmp_path / "k")
    args = ["zero-shot", str(root), "--layout", "imagefolder", "--no-cache", "--compare"]
    out = run_json(capsys, *args, "--benchmark", "kinetics400")
    assert out["benchmark"] == "kinetics400"
    assert {r["model"] for r in out["compare"] if r["kind"] == "published"} == {
        "ImageBind (huge)", "OpenCLIP (large)", "LanguageBind (large)"
    }  # fmt: skip


def test_bad_layout_and_data(esc: Path, tmp_path: Path, capsys) -> None:
    assert main(["eval", "zero-shot", str(esc), "--layout", "esc51", "--model", "fakewords"]) == 2
    err = capsys.readouterr().err
    assert "unknown layout 'esc51'; known layouts:" in err and "imagefolder" in err
    assert (
        main(["eval", "zero-shot", str(tmp_path), "--layout", "esc50", "--model", "fakewords"]) == 2
    )
    assert "meta/esc50.csv" in capsys.readouterr().err
    (esc / "audio" / sorted(p.name for p in (esc / "audio").iterdir())[0]).unlink()
    assert (
        main(
            [
                "eval",
                "zero-shot",
                str(esc),
                "--layout",
                "esc50",
                "--model",
                "fakewords",
                "--no-cache",
            ]
        )
        == 0
    )
    assert "warning:" in capsys.readouterr().err


def test_layouts_lists_every_layout(capsys) -> None:
    assert main(["eval", "layouts"]) == 0
    out = capsys.readouterr().out
    for name in (
        "imagefolder",
        "esc50",
        "audiocaps",
        "clotho",
        "msrvtt",
        "coco",
        "flickr30k",
        "nyud",
        "sund",
        "llvip",
        "kinetics",
        "manifest",
    ):
        assert name in out
