"""`openbind models`: listing, patterns, aliases, cache status and sizes, JSON, unknown names."""

from __future__ import annotations

import json

import pytest

from openbind import registry
from openbind.cli.main import main
from openbind.cli.models_cmd import human_bytes
from openbind.registry import ModelCard, WeightFile


@pytest.fixture
def models(monkeypatch, tmp_path):
    """A registry of three test models (on top of the builtin ones) and a cache holding some files."""
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path))
    big = tmp_path / "models" / "zzbig_huge.v1"
    big.mkdir(parents=True)
    (big / "a.pth").write_bytes(b"x" * 1000)
    (big / "b.pth.part").write_bytes(b"x" * 500)
    small = tmp_path / "models" / "zzbig_small.v1"
    small.mkdir()
    (small / "a.pth").write_bytes(b"x" * 1000)
    files = (
        WeightFile("a.pth", "https://x/a", None, 1000),
        WeightFile("b.pth", "https://x/b", None, 2000),
    )
    with registry.isolated():
        registry.register(
            ModelCard("zzbig_huge.v1", "m:build", ("image", "audio"), 1024, files, "CC-BY-NC-4.0")
        )
        registry.register(
            ModelCard("zzbig_small.v1", "m:build", ("text",), 512, files[:1], "MIT"),
            aliases=("tiny",),
        )
        registry.register(ModelCard("zzpkg_base.v1", "m:build", ("text",), 384, (), "Apache-2.0"))
        yield


def _json(capsys, *argv: str) -> list[dict]:
    assert main(["models", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_lists_status_and_sizes(models, capsys):
    rows = _json(capsys, "zz")
    assert [(r["name"], r["cached"], r["cached_bytes"], r["download_bytes"]) for r in rows] == [
        ("zzbig_huge.v1", "partial", 1500, 3000),
        ("zzbig_small.v1", "yes", 1000, 1000),
        ("zzpkg_base.v1", "packaged", 0, 0),
    ]
    assert rows[0]["modalities"] == ["image", "audio"]
    assert rows[0]["dim"] == 1024 and rows[0]["license"] == "CC-BY-NC-4.0"


def test_uncached_model_is_no(models, capsys, tmp_path):
    (tmp_path / "models" / "zzbig_small.v1" / "a.pth").unlink()
    [row] = _json(capsys, "zzbig_small")
    assert (row["cached"], row["cached_bytes"]) == ("no", 0)


def test_glob_pattern_and_alias(models, capsys):
    assert [r["name"] for r in _json(capsys, "zz*_small.*")] == ["zzbig_small.v1"]
    assert [r["name"] for r in _json(capsys, "tiny")] == ["zzbig_small.v1"]


def test_unknown_name_suggests_close_ones(models, capsys):
    assert main(["models", "zzbig_smal.v2"]) == 2
    assert "did you mean zzbig_small.v1" in capsys.readouterr().err


def test_table(models, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["models", "zz"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out
    lines = {line.split()[1]: line for line in out.splitlines() if "zz" in line}
    assert "partial" in lines["zzbig_huge.v1"] and "1.50 kB of 3.00 kB" in lines["zzbig_huge.v1"]
    assert "image, audio" in lines["zzbig_huge.v1"] and "1024" in lines["zzbig_huge.v1"]
    assert " yes " in lines["zzbig_small.v1"] and "1.00 kB" in lines["zzbig_small.v1"]
    assert "of" not in lines["zzbig_small.v1"]
    assert "packaged" in lines["zzpkg_base.v1"] and "Apache-2.0" in lines["zzpkg_base.v1"]


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1500, "1.50 kB"),
        (4_800_000_000, "4.80 GB"),
        (12_345_678_901, "12.3 GB"),
        (10**16, "10000.0 TB"),
    ],
)
def test_human_bytes(n, text):
    assert human_bytes(n) == text
