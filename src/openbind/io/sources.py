"""Resolve one input item (path, bytes, file object or array) into a `Source` a decoder can read.

Every decoder in `openbind.io` starts with `to_source(item)`: it gives a uniform way to open the
bytes and a short `name` that error messages use ("cat.jpg: truncated file"), so a bad item in a
batch of thousands is easy to find. Sources are immutable and hold no open file, so they are safe
to use from worker threads.

Example:
    >>> src = to_source("cat.jpg")
    >>> with src.open() as f:
    ...     header = f.read(16)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from openbind.errors import BadInput, DecodeError

__all__ = ["NPY_MAGIC", "NPZ_MAGIC", "Source", "describe", "load_arrays", "to_source"]

NPY_MAGIC = b"\x93NUMPY"
"""First bytes of a `.npy` file."""
NPZ_MAGIC = b"PK\x03\x04"
"""First bytes of a `.npz` file (a zip archive)."""


@dataclass(frozen=True, eq=False)
class Source:
    """One input item, resolved.

    Exactly one of `path`, `data` and `array` is set.

    Attributes:
        name: how error messages name the item: the path, `bytes[N]`, a file object's name or
            `ndarray(H, W, C) uint8`.
        path: a file on disk.
        data: the bytes of an in-memory file (bytes items and file objects, read once).
        array: an in-memory array (numpy, or anything with `shape` and `dtype`).
    """

    name: str
    path: Path | None = None
    data: bytes | None = None
    array: Any = None

    @property
    def suffix(self) -> str:
        """Lower-case file extension with the dot (".png"), or "" for bytes and arrays."""
        if self.path is not None:
            return self.path.suffix.lower()
        return Path(self.name).suffix.lower() if self.data is not None else ""

    def open(self) -> IO[bytes]:
        """A binary file object at position 0; the caller closes it.

        Raises:
            BadInput: the source is an array, or the file does not exist / is not readable.
            DecodeError: the file or buffer is empty.
        """
        if self.data is not None:
            if not self.data:
                raise DecodeError("empty file (0 bytes)", source=self.name)
            return io.BytesIO(self.data)
        if self.path is None:
            raise BadInput("an array has no file to open", source=self.name)
        try:
            f = self.path.open("rb")
            size = os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            raise BadInput("no such file", source=self.name) from None
        except IsADirectoryError:
            raise BadInput("is a directory, not a file", source=self.name) from None
        except OSError as e:
            raise BadInput(f"cannot read file ({e.strerror or e})", source=self.name) from None
        if size == 0:
            f.close()
            raise DecodeError("empty file (0 bytes)", source=self.name)
        return f

    def read(self) -> bytes:
        """All bytes of the file or buffer (see `open` for the errors)."""
        if self.data is not None and self.data:
            return self.data
        with self.open() as f:
            return f.read()


def to_source(item: Any) -> Source:
    """Resolve `item` into a `Source`.

    Args:
        item: a path (`str` or `os.PathLike`), `bytes`/`bytearray`/`memoryview` holding a whole
            file, a binary file object (read once, to the end), or an array (anything with
            `shape` and `dtype`, e.g. numpy; kept as is).

    Raises:
        BadInput: the item is of another type (a text-mode file, a number, None, ...).
    """
    if isinstance(item, Source):
        return item
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        return Source(name=str(item), path=path)
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        return Source(name=f"bytes[{len(data)}]", data=data)
    if hasattr(item, "shape") and hasattr(item, "dtype"):
        return Source(name=describe(item), array=item)
    if hasattr(item, "read"):
        data = item.read()
        name = getattr(item, "name", None)
        name = str(name) if isinstance(name, (str, os.PathLike)) else f"<{type(item).__name__}>"
        if not isinstance(data, (bytes, bytearray)):
            raise BadInput("file object must be opened in binary mode", source=name)
        return Source(name=name, data=bytes(data))
    raise BadInput(f"cannot read an item of type {type(item).__name__}", source=describe(item))


def load_arrays(src: Source) -> dict[str, Any]:
    """The arrays of a `.npy` (one array, key "array") or `.npz` file, recognised by content.

    Pickled object arrays are refused (`allow_pickle=False`).

    Raises:
        DecodeError: neither format, or a corrupt / truncated file.
    """
    import numpy as np

    data = src.read()
    if not data.startswith((NPY_MAGIC, NPZ_MAGIC)):
        raise DecodeError("not a .npy or .npz file", source=src.name)
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"array": loaded}
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except Exception as e:  # numpy raises ValueError, OSError, EOFError, zipfile errors, ...
        text = str(e).strip()
        reason = f"{type(e).__name__}: {text}" if text else type(e).__name__
        raise DecodeError(f"corrupt numpy file ({reason})", source=src.name) from None


def describe(item: Any) -> str:
    """A short name for `item` in error messages (never the whole content)."""
    if isinstance(item, Source):
        return item.name
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f"bytes[{len(item)}]"
    if hasattr(item, "shape") and hasattr(item, "dtype"):
        shape = ", ".join(str(int(s)) for s in item.shape)
        return f"{type(item).__name__}({shape}) {item.dtype}"
    if hasattr(item, "mode") and hasattr(item, "size"):  # a PIL image
        return f"{type(item).__name__}({item.mode}, {item.size[0]}x{item.size[1]})"
    name = getattr(item, "name", None)
    if isinstance(name, (str, os.PathLike)):
        return str(name)
    text = repr(item)
    return text if len(text) <= 60 else text[:57] + "..."
