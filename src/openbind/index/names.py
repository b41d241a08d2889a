"""Where libraries stored by name live: `$OPENBIND_HOME/libraries/NAME` (default home
`~/.cache/openbind`), read at each call so tests and servers can point it elsewhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from openbind.errors import BadInput

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def libraries_dir() -> Path:
    """The folder holding named libraries."""
    home = os.environ.get("OPENBIND_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "openbind"
    return base / "libraries"


def library_path(name: str) -> Path:
    """The folder of the library called `name`.

    Raises:
        BadInput: `name` is not a plain name (letters, digits, `._-`, no slashes).
    """
    if not _NAME.match(name):
        raise BadInput(f"library names use letters, digits, '.', '_' and '-' only, got {name!r}")
    return libraries_dir() / name


def resolve_library(name_or_path: str | Path) -> Path:
    """A library folder from a path that holds one, else from a library name.

    Paths win: "./photos" or "/data/lib" are used as they are; "photos" is a path only if that
    folder exists in the working directory and holds a library.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if (path / "CURRENT").is_file() or "/" in text or text.startswith("."):
        return path
    return library_path(text)


def list_libraries() -> list[str]:
    """Names of the libraries under `libraries_dir()`."""
    base = libraries_dir()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "CURRENT").is_file())
