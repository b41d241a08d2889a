"""Image decoding: inputs accepted, mode conversion, EXIF, bomb limit and bad files."""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from openbind.errors import BadInput, DecodeError
from openbind.io.image import array_to_image, load_image, open_image
from openbind.io.sources import to_source

MEDIA = Path(__file__).parents[1] / "golden" / "media"
LANDSCAPE = MEDIA / "img_landscape_640x480.png"
RGBA = MEDIA / "img_portrait_rgba_300x500.png"


def _png(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg_with_orientation(orientation: int) -> bytes:
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255  # left half white
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95, exif=exif)
    return buf.getvalue()


def test_path_bytes_file_and_pil_agree() -> None:
    ref = np.asarray(Image.open(LANDSCAPE).convert("RGB"))
    data = LANDSCAPE.read_bytes()
    for item in (LANDSCAPE, str(LANDSCAPE), data, io.BytesIO(data), Image.open(LANDSCAPE)):
        im = load_image(item)
        assert im.mode == "RGB" and im.size == (640, 480)
        np.testing.assert_array_equal(np.asarray(im), ref)


def test_rgba_drop_matches_reference_convert() -> None:
    ref = np.asarray(Image.open(RGBA).convert("RGB"))
    np.testing.assert_array_equal(np.asarray(load_image(RGBA)), ref)


def test_alpha_white_composites_over_white() -> None:
    a = np.zeros((2, 2, 4), np.uint8)
    a[..., 0] = 200  # red stored everywhere
    a[0, 0, 3] = 255  # opaque
    a[0, 1, 3] = 0  # transparent
    a[1, :, 3] = 128  # half
    im = Image.fromarray(a, "RGBA")
    assert np.asarray(load_image(im, alpha="drop"))[0, 1].tolist() == [200, 0, 0]
    white = np.asarray(load_image(im, alpha="white"))
    assert white[0, 0].tolist() == [200, 0, 0]
    assert white[0, 1].tolist() == [255, 255, 255]
    assert white[1, 0].tolist() == [227, 127, 127]  # 200*128/255 + 255*127/255 = 227.4


def test_palette_grayscale_cmyk_become_rgb() -> None:
    gray = Image.fromarray(np.full((3, 5), 77, np.uint8))
    assert np.asarray(load_image(_png(gray))).tolist() == [[[77] * 3] * 5] * 3
    pal = gray.convert("P")
    assert load_image(_png(pal)).mode == "RGB"
    cmyk = Image.new("CMYK", (4, 4), (0, 0, 0, 0))
    buf = io.BytesIO()
    cmyk.save(buf, format="JPEG")
    rgb = np.asarray(load_image(buf.getvalue()))
    assert rgb.shape == (4, 4, 3) and rgb.min() >= 250  # no ink = white


def test_la_and_32bit_integer_modes() -> None:
    la = Image.fromarray(np.array([[[10, 0], [200, 255]]], np.uint8), "LA")
    assert np.asarray(load_image(_png(la)))[0].tolist() == [[10] * 3, [200] * 3]  # alpha dropped
    assert np.asarray(load_image(la, alpha="white"))[0, 0].tolist() == [255] * 3
    i32 = Image.fromarray(np.array([[0, 65535, 70000, -5]], np.int32))  # mode I
    assert i32.mode == "I"
    assert np.asarray(load_image(i32))[0, :, 0].tolist() == [0, 255, 255, 0]


def test_16bit_scaled_not_clipped() -> None:
    a = np.array([[0, 257, 65535, 32896]], np.uint16)
    im = Image.fromarray(a)  # mode I;16
    assert np.asarray(load_image(_png(im)))[0, :, 0].tolist() == [0, 1, 255, 128]
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0, 7.0]], np.float32))  # mode F
    assert np.asarray(load_image(f))[0, :, 0].tolist() == [0, 128, 255, 255]


def test_numpy_arrays() -> None:
    a = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    np.testing.assert_array_equal(np.asarray(load_image(a)), a)
    np.testing.assert_array_equal(np.asarray(load_image(a / 255.0)), a)
    gray = np.array([[0, 255]], np.uint8)
    assert np.asarray(load_image(gray)).tolist() == [[[0] * 3, [255] * 3]]
    assert np.asarray(load_image(gray[..., None])).shape == (1, 2, 3)
    assert array_to_image(np.array([[65535]], np.uint16)).getpixel((0, 0)) == 255


@pytest.mark.parametrize(
    ("array", "needle"),
    [
        (np.zeros((2, 2, 2), np.uint8), "C in 1, 3, 4"),
        (np.zeros((2,), np.uint8), "got shape (2,)"),
        (np.zeros((0, 3), np.uint8), "empty image array"),
        (np.zeros((2, 2), np.int64), "got int64"),
        (np.array([[np.nan]]), "NaN"),
    ],
)
def test_bad_arrays(array: np.ndarray, needle: str) -> None:
    with pytest.raises(BadInput, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_image(array)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation(orientation: int) -> None:
    im = load_image(_jpeg_with_orientation(orientation))
    a = np.asarray(im).mean(axis=2)
    if orientation in (1, 3):
        assert im.size == (40, 20)
        white_left = a[:, :20].mean() > a[:, 20:].mean()
        assert white_left == (orientation == 1)
    else:  # 6: rotate 270 (white half on top), 8: rotate 90 (white half at the bottom)
        assert im.size == (20, 40)
        white_top = a[:20].mean() > a[20:].mean()
        assert white_top == (orientation == 6)
    raw = load_image(_jpeg_with_orientation(orientation), exif_transpose=False)
    assert raw.size == (40, 20)  # parity mode: tag ignored like the reference


def test_one_pixel_image() -> None:
    im = load_image(_png(Image.new("RGB", (1, 1), (1, 2, 3))))
    assert im.size == (1, 1) and im.getpixel((0, 0)) == (1, 2, 3)


def _png_header_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR (with a valid CRC) claims `width` x `height`."""
    data = bytearray(_png(Image.new("L", (1, 1))))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_bomb_limit_is_a_decode_error_before_decoding() -> None:
    big = _png_header_claiming(20000, 20000)  # 400 M pixels: rejected from the header alone
    with pytest.raises(DecodeError, match=r"bytes\[\d+\]: image too large"):
        load_image(big)
    # 144 M pixels: above Pillow's warning threshold, below its hard limit; ours decides,
    # with an error and no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DecodeError, match=r"12000x12000 = 144000000 pixels > max_pixels="):
            load_image(_png_header_claiming(12000, 12000), max_pixels=10**8)
    small = _png(Image.new("L", (100, 100)))
    with pytest.raises(DecodeError, match="10000 pixels > max_pixels=9999"):
        load_image(small, max_pixels=9999)
    assert load_image(small, max_pixels=10000).size == (100, 100)


def test_truncated_corrupt_empty_and_non_images(tmp_path: Path) -> None:
    data = LANDSCAPE.read_bytes()
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match=r"trunc\.png: corrupt or truncated"):
        load_image(trunc)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match=r"empty\.jpg: empty file"):
        load_image(empty)
    with pytest.raises(DecodeError, match=r"bytes\[0\]: empty file"):
        load_image(b"")
    text = tmp_path / "notes.png"
    text.write_text("hello, I am not a picture")
    with pytest.raises(DecodeError, match=r"notes\.png: not an image"):
        load_image(text)
    corrupt = bytearray(data)
    corrupt[200:4000] = bytes(3800)  # zero a chunk of compressed data (CRC breaks)
    with pytest.raises(DecodeError, match=r"bytes\[\d+\]: corrupt"):
        load_image(bytes(corrupt))


def test_eps_is_refused_without_running_ghostscript() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
    with pytest.raises(DecodeError, match="not an image Pillow can read"):
        load_image(eps)


def test_missing_file_and_wrong_types(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(BadInput, match="is a directory"):
        load_image(tmp_path)
    with pytest.raises(BadInput, match="type int"):
        load_image(3)
    with pytest.raises(BadInput, match="binary mode"):
        load_image(io.StringIO("x"))


def test_open_image_keeps_mode() -> None:
    a = np.array([[0, 1000]], np.uint16)
    assert open_image(_png(Image.fromarray(a))).mode.startswith("I")
    assert to_source(b"abc").name == "bytes[3]"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        load_image(data)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 600), st.integers(0, 255))
def test_mutated_png_only_raises_decode_error(pos: int, value: int) -> None:
    data = bytearray(_png(Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))))
    data[pos % len(data)] = value
    with contextlib.suppress(DecodeError):
        load_image(bytes(data))
