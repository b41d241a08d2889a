"""Text inputs: plain strings, or UTF-8 text files given as paths, bytes or binary file objects.

A `str` item is always the text itself (a caption may well read "cat.txt"); a file is given as an
`os.PathLike` (e.g. `pathlib.Path`), as its bytes, or as a binary file object.

Texts are cut to their first `max_chars` characters (`openbind.limits.DEFAULT_MAX_TEXT_CHARS`,
20,000) before tokenising; the cut is recorded (`openbind.limits.recording`). Files are read
only as far as that many characters can reach (4 bytes per character).

Example:
    >>> read_text("a dog barking")
    'a dog barking'
    >>> read_text(Path("caption.txt"))
    'a dog barking'
"""

from __future__ import annotations

from typing import Any

from openbind.errors import DecodeError
from openbind.limits import DEFAULT_MAX_TEXT_CHARS, Truncation, cut_text, note

TEXT_SUFFIXES = (".txt", ".text", ".md", ".caption")
"""File extensions read as text; bytes and file objects without a name are accepted as well."""


def read_text(item: Any, *, max_chars: int | None = DEFAULT_MAX_TEXT_CHARS) -> str:
    """The text of `item`, cut to `max_chars` characters (the cut is recorded as a `Truncation`).

    Args:
        item: a `str`, or a text file: `os.PathLike`, bytes, or a binary file object. Files
            must be UTF-8 (a byte-order mark is dropped).
        max_chars: characters kept (None: all).

    Raises:
        BadInput: the file does not exist or the item is of an unusable type.
        DecodeError: the file is empty, has an extension in none of `TEXT_SUFFIXES`, or is not
            valid UTF-8; the message names the file and the byte offset.
    """
    if isinstance(item, str):
        return cut_text(item, max_chars)
    from openbind.io.sources import to_source

    source = to_source(item)
    if source.array is not None:
        raise DecodeError("an array is not text", source=source.name)
    if source.suffix and source.suffix not in TEXT_SUFFIXES:
        raise DecodeError(
            f"unsupported text file extension {source.suffix!r}; expected one of {', '.join(TEXT_SUFFIXES)}",
            source=source.name,
        )
    with source.open() as f:  # at most 4 bytes a character, the BOM, and one more to see the end
        data = f.read(-1 if max_chars is None else 4 * max_chars + 4)
        whole = max_chars is None or not f.read(1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if not whole and e.start >= len(data) - 3 and e.reason == "unexpected end of data":
            text = data[: e.start].decode("utf-8-sig")  # a character cut by the bounded read
        else:
            raise DecodeError(
                f"not UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start})",
                source=source.name,
            ) from None
    if whole or max_chars is None:
        return cut_text(text, max_chars, source=source.name)
    size = len(source.data) if source.data is not None else source.path.stat().st_size  # type: ignore[union-attr]
    note(Truncation("max_chars", max_chars, size, source.name))  # read in part: bytes known
    return text[:max_chars]
