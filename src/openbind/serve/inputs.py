"""Request inputs: base64 and `data:` URIs to bytes, and the modality of an upload.

Every error is an `InputError` that names the request field it came from, so the HTTP layer can
answer with a 400 that points at it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openbind.errors import BadInput
from openbind.pipeline.detect import EXTENSIONS, HEAD_BYTES, sniff
from openbind.types import Modality


class InputError(BadInput):
    """A request field cannot be used; `field` names it ("input[2]", "file", "labels")."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class QueryPart:
    """One input of a request, ready for the space.

    Attributes:
        modality: what the item is.
        item: a string for text, raw file bytes for every other modality.
        field: the request field it came from, for error messages.
        weight: its share in a composed query.
    """

    modality: Modality
    item: Any
    field: str
    weight: float = 1.0


_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,"
)

# MIME types that name a modality, for uploads with neither magic bytes nor a known extension.
_MAJOR_TYPES = {"image": Modality.IMAGE, "video": Modality.VIDEO, "audio": Modality.AUDIO}
_TEXT_TYPES = {"text/plain", "text/markdown"}


def decode_base64(value: str, field: str) -> tuple[bytes, str | None]:
    """Bytes of a `data:` URI or of plain base64 text, and the URI's MIME type if it has one.

    Raises:
        InputError: neither valid base64 nor a base64 `data:` URI.
    """
    mime = None
    payload = value.strip()
    match = _DATA_URI.match(payload)
    if match:
        if not match.group("b64"):
            raise InputError(field, "only base64 data: URIs are accepted (data:<type>;base64,...)")
        mime = match.group("mime")
        payload = payload[match.end() :]
    elif payload.startswith("data:"):
        raise InputError(field, "malformed data: URI")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(field, "is not valid base64 or a base64 data: URI") from None
    if not data:
        raise InputError(field, "is empty")
    return data, mime


def guess_modality(data: bytes, filename: str | None, content_type: str | None) -> Modality | None:
    """The modality of an upload: by its magic bytes, else its file extension, else its MIME type.

    Content comes first, so a mislabelled upload is still decoded as what it is; None if unsure
    (CSV files and thermal images need the modality said).
    """
    found = sniff(data[:HEAD_BYTES])
    if found is not None:
        return found
    suffix = Path(filename or "").suffix.lower()
    if suffix in EXTENSIONS and suffix != ".csv":  # IMU CSV needs a look at its rows
        return EXTENSIONS[suffix]
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in _TEXT_TYPES:
        return Modality.TEXT
    return _MAJOR_TYPES.get(mime.split("/")[0])


def media_part(
    data: bytes,
    field: str,
    *,
    modality: Modality | str | None,
    filename: str | None = None,
    content_type: str | None = None,
    weight: float = 1.0,
) -> QueryPart:
    """A query part for uploaded bytes; text files become their text.

    Raises:
        InputError: empty data, an unknown modality, or no modality given and none guessable.
    """
    if not data:
        raise InputError(field, "is empty")
    if modality is None:
        m = guess_modality(data, filename, content_type)
        if m is None:
            raise InputError(
                field,
                f"cannot tell the modality of {filename or 'the upload'!r}; say it with 'modality'",
            )
    else:
        try:
            m = Modality.parse(modality)
        except BadInput as e:
            raise InputError("modality", str(e)) from None
    if m is Modality.TEXT:
        try:
            return QueryPart(m, data.decode("utf-8").strip(), field, weight)
        except UnicodeDecodeError:
            raise InputError(field, "text upload is not UTF-8") from None
    return QueryPart(m, data, field, weight)
