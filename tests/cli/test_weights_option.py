"""`--weights PATH` reaches `openbind.load` in every command that loads a space."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from openbind.cli.main import EXIT_WEIGHTS, main


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(path)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["classify", "{photo}", "--labels", "a,b", "--model", "imagebind"],
        ["embed", "{photo}", "-o", "{tmp}/out.parquet", "--model", "imagebind"],
        ["index", "build", "{photo}", "--path", "{tmp}/lib", "--model", "imagebind"],
    ],
    ids=["classify", "embed", "index-build"],
)
def test_missing_local_weights_exit_3_naming_the_path(
    argv: list[str], photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "imagebind_huge.pth"
    args = [a.format(photo=photo, tmp=tmp_path) for a in argv] + ["--weights", str(missing)]
    assert main(args) == EXIT_WEIGHTS
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "does not exist" in err
    assert not (tmp_path / "lib").exists() and not (tmp_path / "out.parquet").exists()
