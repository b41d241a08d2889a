"""Request inputs: base64 / data: URIs and the modality of uploads."""

from __future__ import annotations

import base64

import pytest

from openbind.serve.inputs import InputError, decode_base64, guess_modality, media_part
from openbind.types import Modality
from tests.serve.conftest import png


def test_data_uri_and_plain_base64() -> None:
    raw = b"\x00\x01binary\xff"
    b64 = base64.b64encode(raw).decode()
    assert decode_base64(b64, "input[0]") == (raw, None)
    assert decode_base64(f"data:audio/wav;base64,{b64}", "input[0]") == (raw, "audio/wav")
    assert decode_base64(f"data:image/png;name=x.png;base64,{b64}\n", "x") == (raw, "image/png")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("data:image/png,rawtext", "only base64 data: URIs"),
        ("data:;;base64", "malformed data: URI"),
        ("not base64!", "not valid base64"),
        ("", "is empty"),
    ],
)
def test_bad_base64_names_the_field(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as e:
        decode_base64(value, "input[3]")
    assert e.value.field == "input[3]"
    assert str(e.value).startswith("input[3]: ")


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "expected"),
    [
        (
            png((1, 2, 3)),
            "photo.bin",
            "application/octet-stream",
            Modality.IMAGE,
        ),  # magic bytes win
        (png((1, 2, 3)), "song.wav", "audio/wav", Modality.IMAGE),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None, None, Modality.AUDIO),
        (b"\x00\x00\x00\x18ftypisom", "clip", None, Modality.VIDEO),
        (b"hello", "note.txt", None, Modality.TEXT),
        (b"hello", "blob", "text/plain; charset=utf-8", Modality.TEXT),
        (b"???", "x.mp3", None, Modality.AUDIO),
        (b"???", "blob", "video/webm", Modality.VIDEO),
        (b"1,2,3,4,5,6", "imu.csv", "text/csv", Modality.IMU),  # the pipeline's CSV rule
        (b"a,b\n1,2", "table.csv", "text/csv", None),
        (b"???", "blob", "application/octet-stream", None),
    ],
)
def test_guess_modality(
    data: bytes, filename: str | None, content_type: str | None, expected: Modality | None
) -> None:
    assert guess_modality(data, filename, content_type) is expected


def test_media_part_text_upload_and_explicit_modality() -> None:
    part = media_part(b"  a red car\n", "file", modality=None, filename="n.txt")
    assert (part.modality, part.item, part.field) == (Modality.TEXT, "a red car", "file")
    part = media_part(b"\x01\x02", "file", modality="thermal")
    assert (part.modality, part.item) == (Modality.THERMAL, b"\x01\x02")
    with pytest.raises(InputError, match="not UTF-8"):
        media_part(b"\xff\xfe\xfa", "file", modality="text")
    with pytest.raises(InputError, match="say it with 'modality'") as e:
        media_part(b"1,2", "file[1]", modality=None, filename="x.csv")
    assert e.value.field == "file[1]"
