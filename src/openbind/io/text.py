"""Text inputs: plain strings, or UTF-8 text files given as paths, bytes or binary file objects.

A `str` item is always the text itself (a caption may well read "cat.txt"); a file is given as an
`os.PathLike` (e.g. `pathlib.Path`), as its bytes, or as a binary file object.

Example:
    >>> read_text("a dog barking")
    'a dog barking'
    >>> read_text(Path("caption.txt"))
    'a dog barking'
"""

from __future__ import annotations

from typing import Any

from openbind.errors import DecodeError

TEXT_SUFFIXES = (".txt", ".text", ".md", ".caption")
"""File extensions read as text; bytes and file objects without a name are accepted as well."""


def read_text(item: Any) -> str:
    """The text of `item`.

    Args:
        item: a `str` (returned as is), or a text file: `os.PathLike`, bytes, or a binary file
            object. Files must be UTF-8 (a byte-order mark is dropped).

    Raises:
        BadInput: the file does not exist or the item is of an unusable type.
        DecodeError: the file is empty, has an extension in none of `TEXT_SUFFIXES`, or is not
            valid UTF-8; the message names the file and the byte offset.
    """
    if isinstance(item, str):
        return item
    from openbind.io.sources import to_source

    source = to_source(item)
    if source.array is not None:
        raise DecodeError("an array is not text", source=source.name)
    if source.suffix and source.suffix not in TEXT_SUFFIXES:
        raise DecodeError(
            f"unsupported text file extension {source.suffix!r}; expected one of {', '.join(TEXT_SUFFIXES)}",
            source=source.name,
        )
    data = source.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DecodeError(
            f"not UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start})",
            source=source.name,
        ) from None
