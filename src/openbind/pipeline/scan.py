"""Find the files to embed: walk folders, stat, detect modalities, hash contents.

Folders are walked recursively in sorted order; hidden files and folders (names starting with
".") are skipped, links to folders are not followed. A symbolic link to a file is followed only
when its target lies inside one of the inputs (the indexed roots): a link pointing out of them
would put an outside file, its path and its text into the library and the server's answers.
`follow_symlinks=True` (CLI `--follow-symlinks`) takes such files too, under the link's own path,
so the outside location is still never stored. Files named directly are always taken. Paths are
stored absolute and resolved.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from openbind.errors import BadInput
from openbind.pipeline.detect import detect_file
from openbind.types import Modality

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """A file found by `scan`.

    Attributes:
        path: absolute path.
        modality: detected (or forced) modality; None when unsupported.
        size: bytes.
        mtime: modification time (seconds since the epoch).
        warning: the name promises another modality than the content ("a JPEG named .wav").
    """

    path: Path
    modality: Modality | None
    size: int
    mtime: float
    warning: str | None = None


def list_files(inputs: Sequence[str | Path], *, follow_symlinks: bool = False) -> list[Path]:
    """Files under `inputs` (folders walked, files kept), absolute, without duplicates.

    Args:
        inputs: folders and files (the roots).
        follow_symlinks: also take files whose links lead out of the roots (under the link's
            path); by default they are left out.

    Raises:
        BadInput: an input does not exist.
    """
    seen: dict[Path, None] = {}
    roots = [Path(item).expanduser().resolve() for item in inputs]
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            for f in _walk(path):
                real = f.resolve()
                if any(real.is_relative_to(root) for root in roots):
                    seen.setdefault(real, None)
                elif follow_symlinks:
                    seen.setdefault(f.absolute(), None)
        elif path.is_file():
            seen.setdefault(path.resolve(), None)
        else:
            raise BadInput("no such file or folder", source=str(item))
    return list(seen)


def scan(
    inputs: Sequence[str | Path],
    *,
    force: Modality | str | None = None,
    workers: int = 4,
    follow_symlinks: bool = False,
) -> list[FileEntry]:
    """Every file under `inputs` with its size, mtime and modality (`detect_file`, or `force`).

    Symbolic links leading out of `inputs` are left out unless `follow_symlinks` (see
    `list_files`).
    """
    forced = Modality.parse(force) if force is not None else None
    files = list_files(inputs, follow_symlinks=follow_symlinks)

    def entry(path: Path) -> FileEntry | None:
        try:
            st = path.stat()
        except OSError:  # deleted since it was listed
            return None
        if forced is not None:
            return FileEntry(path, forced, st.st_size, st.st_mtime)
        found = detect_file(path)
        return FileEntry(path, found.modality, st.st_size, st.st_mtime, found.warning)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [e for e in pool.map(entry, files) if e is not None]


def content_hash(path: str | Path) -> str:
    """blake2b (128-bit) of the file's bytes, as hex."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def hash_files(paths: Iterable[Path], *, workers: int = 4) -> dict[Path, str | None]:
    """`content_hash` of each path in threads; None for files that cannot be read."""

    def one(path: Path) -> str | None:
        try:
            return content_hash(path)
        except OSError:
            return None

    paths = list(paths)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(paths, pool.map(one, paths), strict=True))


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                path = Path(dirpath) / name
                if path.is_file():
                    yield path
