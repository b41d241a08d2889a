"""`--weights PATH` and `--fast-images` reach `openbind.load` in every command that loads a space."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import openbind
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


LOADING_COMMANDS = pytest.mark.parametrize(
    "argv",
    [
        ["classify", "{photo}", "--labels", "a,b"],
        ["embed", "{photo}", "-o", "{tmp}/out.parquet"],
        ["index", "build", "{photo}", "--path", "{tmp}/lib"],
        ["serve", "--port", "0"],
    ],
    ids=["classify", "embed", "index-build", "serve"],
)
"""Every command that loads a space."""


class _Loaded(Exception):
    """Raised by the fake `openbind.load` once it has recorded its arguments."""


def _load_kwargs(
    argv: list[str],
    extras: tuple[list[str], ...],
    photo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> list[dict]:
    """The keyword arguments `openbind.load` gets from `argv` plus each of `extras`."""
    calls: list[dict] = []

    def fake_load(name: str, **kwargs: object) -> None:
        calls.append(kwargs)
        raise _Loaded

    monkeypatch.setattr(openbind, "load", fake_load)
    args = [a.format(photo=photo, tmp=tmp_path) for a in argv]
    threads = torch.get_num_threads()
    try:
        for extra in extras:
            with pytest.raises(_Loaded):
                main([*args, *extra])
    finally:
        torch.set_num_threads(threads)  # `serve` sets this process's to one
    return calls


@LOADING_COMMANDS
def test_fast_images_asks_load_for_fast_image_preprocessing(
    argv: list[str], photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _load_kwargs(argv, ([], ["--fast-images"]), photo, tmp_path, monkeypatch)
    assert [c["preprocess"] for c in calls] == [None, {"image": {"fast": True}}]


@LOADING_COMMANDS
def test_threads_dtype_and_int8_reach_load(
    argv: list[str], photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extras = ([], ["--threads", "3", "--int8"], ["--dtype", "bfloat16", "--prepack"])
    calls = _load_kwargs(argv, extras, photo, tmp_path, monkeypatch)
    speed = [(c["threads"], c["dtype"], c["int8"], c["prepack"]) for c in calls]
    if argv[0] == "serve":  # loaded on one thread: --threads is each model worker's
        assert speed == [
            (1, "float32", False, False),
            (1, "float32", True, False),
            (1, "bfloat16", False, True),
        ]
        return
    assert speed == [
        (None, "float32", False, False),
        (3, "float32", True, False),
        (None, "bfloat16", False, True),
    ]


def test_unknown_dtype_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["embed", "x", "-o", "y.parquet", "--dtype", "int4"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err
