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
from openbind.pipeline.detect import HEAD_BYTES, identify
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

# What the major type of a data: URI's MIME type allows an input to be embedded as.
_COMPATIBLE = {
    "image": (Modality.IMAGE, Modality.THERMAL, Modality.DEPTH),
    "video": (Modality.VIDEO,),
    "audio": (Modality.AUDIO,),
    "text": (Modality.TEXT, Modality.IMU),
}


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
        data = _b64decode(payload)
    except (binascii.Error, ValueError):
        raise InputError(field, "is not valid base64 or a base64 data: URI") from None
    if not data:
        raise InputError(field, "is empty")
    return data, mime


B64_CHUNK = 1 << 18
"""Base64 characters decoded per call: each call holds the GIL (about 2 ms for 256 K), so
other threads (the event loop, the model thread) get it back between chunks."""


def _b64decode(payload: str) -> bytes:
    """`base64.b64decode(payload, validate=True)`, in chunks of `B64_CHUNK` characters."""
    if len(payload) <= B64_CHUNK:
        return base64.b64decode(payload, validate=True)
    pad = payload.find("=")
    if len(payload) % 4 or (pad != -1 and pad < len(payload) - 2):
        raise binascii.Error("incorrect padding")
    out = bytearray()
    for start in range(0, len(payload), B64_CHUNK):
        out += base64.b64decode(payload[start : start + B64_CHUNK], validate=True)
    return bytes(out)


def guess_modality(data: bytes, filename: str | None, content_type: str | None) -> Modality | None:
    """The modality of an upload by `openbind.pipeline.detect.identify`: content, then name,
    then MIME type; None if unsure (thermal images need the modality said)."""
    csv = Path(filename or "").suffix.lower() == ".csv" or (content_type or "").startswith(
        "text/csv"
    )
    return identify(
        data[:HEAD_BYTES], filename, mime=content_type, imu_csv=csv and _imu(data)
    ).modality


def implied_modality(mime: str | None, data: bytes) -> Modality | None:
    """The modality a `data:` URI's MIME type implies (None for none or a generic type)."""
    if not mime:
        return None
    major = mime.split("/")[0].lower()
    allowed = _COMPATIBLE.get(major)
    if allowed is None:
        return None
    found = guess_modality(data, None, mime)
    if found in allowed:
        return found
    if mime.lower() == "text/csv":
        return Modality.IMU
    return allowed[0]


def check_implied(mime: str | None, modality: Modality, field: str) -> None:
    """Refuse a `data:` URI whose MIME type contradicts the modality the request names.

    Raises:
        InputError: e.g. a `data:image/png` input sent with `modality: audio`.
    """
    if not mime:
        return
    allowed = _COMPATIBLE.get(mime.split("/")[0].lower())
    if allowed is not None and modality not in allowed:
        raise InputError(
            field, f"is a data:{mime} URI but the request says modality {modality.value!r}"
        )


def media_value(value: str, field: str, *, modality: Modality | str | None) -> QueryPart:
    """A query part from a base64 string or `data:` URI; a URI's MIME type implies its modality.

    Raises:
        InputError: bad base64, a MIME type that contradicts `modality`, or no modality given
            and none detectable.
    """
    data, mime = decode_base64(value, field)
    if modality is not None:
        m = _parse(modality)
        check_implied(mime, m, field)
    else:
        m = implied_modality(mime, data)
    return media_part(data, field, modality=m, content_type=mime)


def _parse(modality: Modality | str) -> Modality:
    try:
        return Modality.parse(modality)
    except BadInput as e:
        raise InputError("modality", e.reason) from None


def _imu(data: bytes) -> bool:
    lines = data[:4096].decode("utf-8", errors="replace").splitlines()[:2]
    for line in lines:
        cells = [c.strip() for c in line.split(",")]
        if len(cells) in (6, 7) and all(_number(c) for c in cells):
            return True
    return False


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
        m = _parse(modality)
    if m is Modality.TEXT:
        try:
            return QueryPart(m, data.decode("utf-8").strip(), field, weight)
        except UnicodeDecodeError:
            raise InputError(field, "text upload is not UTF-8") from None
    return QueryPart(m, data, field, weight)
