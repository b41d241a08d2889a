"""`openbind models` shows cards: aliases, sources, estimated sizes, and one card in full."""

from __future__ import annotations

import json

import pytest

from openbind.cli.main import main


@pytest.fixture(autouse=True)
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")


def test_json_has_aliases_sources_and_imagebind_size(capsys) -> None:
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    ib, starter = rows["imagebind_huge.official"], rows["starter_base.v1"]
    assert ib["aliases"] == ["imagebind", "imagebind_huge"]
    assert (ib["download_bytes"], ib["download_exact"]) == (4_803_147_960, False)
    assert ib["source"]["kind"] == "UrlFiles" and ib["source"]["files"][0]["sha256"] is None
    assert ib["arch"] == "huge" and ib["preprocess"]["audio"]["config"].endswith(":AudioConfig")
    assert starter["aliases"] == ["starter", "starter_base"]
    assert starter["source"]["kind"] == "Packaged" and starter["cached"] == "packaged"
    assert starter["preprocess"]["image"]["settings"]["mean"] == [127 / 255] * 3


def test_table_shows_aliases_and_the_estimated_size(capsys) -> None:
    assert main(["models"]) == 0
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines() if "│" in line}
    assert "imagebind, imagebind_huge" in lines["imagebind_huge.official"]
    assert "~4.80 GB" in lines["imagebind_huge.official"]
    assert "starter, starter_base" in lines["starter_base.v1"]


@pytest.mark.parametrize("name", ["imagebind_huge", "imagebind", "imagebind_huge.official"])
def test_a_name_or_alias_prints_the_card(name, capsys, tmp_path) -> None:
    assert main(["models", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("imagebind_huge.official\n  aliases      imagebind, imagebind_huge\n")
    assert "imagebind_huge.pth  ~4.80 GB  sha256 not published" in out
    assert f"cached       no  ({tmp_path / 'models' / 'imagebind_huge.official'})" in out
    assert "    audio      AudioConfig(sample_rate=16000, clip_duration_s=2.0, clips=3" in out
