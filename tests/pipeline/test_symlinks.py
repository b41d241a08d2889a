"""Symbolic links: indexing follows them only while they stay inside the indexed roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openbind.pipeline import build_library, index_files
from openbind.pipeline.scan import list_files
from tests.pipeline.toy_space import make_space


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """media/ with a text, a link to it, a link to a secret outside, and a link to a folder."""
    root, outside = tmp_path / "media", tmp_path / "private"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "dog.txt").write_text("a dog barking")
    (outside / "secret.txt").write_text("the password is hunter2")
    os.symlink(root / "dog.txt", root / "sub" / "alias.txt")  # stays inside
    os.symlink(outside / "secret.txt", root / "leak.txt")  # leaves the root
    os.symlink(outside, root / "private_dir")  # folder links are never walked
    return root, outside


def test_links_leaving_the_roots_are_left_out(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    assert list_files([root]) == [(root / "dog.txt").resolve()]
    both = list_files([root], follow_symlinks=True)
    assert both == [(root / "dog.txt").resolve(), (root / "leak.txt").absolute()]
    assert all(not p.resolve().is_relative_to(outside) or p.parent == root for p in both)
    # a second root containing the target makes the link an inside one
    assert list_files([root, outside]) == [
        (root / "dog.txt").resolve(),
        (outside / "secret.txt").resolve(),
    ]


def test_no_outside_path_or_text_reaches_the_library(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    root, outside = tree
    space = make_space()
    lib, summary = build_library(space, tmp_path / "lib", [root], progress=False)
    assert [Path(r.path).name for r in lib.records()] == ["dog.txt"] and summary.total == 1
    assert str(outside) not in repr(list(lib.records()))

    followed, _ = build_library(
        space, tmp_path / "lib2", [root], progress=False, follow_symlinks=True
    )
    paths = sorted(r.path for r in followed.records())
    assert paths == [str((root / "dog.txt").resolve()), str((root / "leak.txt").absolute())]
    assert not any(p.startswith(str(outside)) for p in paths)  # stored under the link's path

    summary = index_files(space, followed, progress=False)  # without the flag: dropped again
    assert summary.removed == 1 and [Path(r.path).name for r in followed.records()] == ["dog.txt"]
