"""Thermal decoding: 8-bit, 16-bit (min-max / scale), RGB renders, arrays, bad inputs."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from openbind.errors import BadInput, DecodeError
from openbind.io.thermal import load_thermal


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_8bit_gray_stays_8bit() -> None:
    a = np.array([[0, 100, 255]], np.uint8)
    im = load_thermal(_png(Image.fromarray(a)))
    assert im.mode == "L" and np.asarray(im).tolist() == a.tolist()
    assert np.asarray(load_thermal(a)).tolist() == a.tolist()


def test_rgb_render_becomes_luma() -> None:
    a = np.zeros((1, 3, 3), np.uint8)
    a[0, 0] = 90  # grey: luma == value
    a[0, 1] = (255, 0, 0)
    a[0, 2] = (0, 0, 255)
    im = load_thermal(_png(Image.fromarray(a)))
    assert im.mode == "L" and np.asarray(im).tolist() == [[90, 76, 29]]  # 601 luma
    assert np.asarray(load_thermal(a)).tolist() == [[90, 76, 29]]


def test_16bit_minmax_and_scale() -> None:
    raw = np.array([[7000, 7500, 8000]], np.uint16)
    im = load_thermal(_png(Image.fromarray(raw)))
    assert im.mode == "F"
    np.testing.assert_allclose(np.asarray(im), [[0.0, 127.5, 255.0]], rtol=1e-6)
    scaled = load_thermal(raw, high_bit_depth="scale")
    np.testing.assert_allclose(np.asarray(scaled), raw * 255.0 / 65535.0, rtol=1e-6)
    flat = load_thermal(np.full((2, 2), 9000, np.uint16))
    assert np.asarray(flat).max() == 0.0


def test_float_arrays_are_unit_range() -> None:
    im = load_thermal(np.array([[0.0, 0.5, 2.0]], np.float32))
    np.testing.assert_allclose(np.asarray(im), [[0.0, 127.5, 255.0]])
    with pytest.raises(BadInput, match="NaN"):
        load_thermal(np.array([[np.nan]]))


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"got shape \(2, 2, 2\)"):
        load_thermal(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(BadInput, match="high_bit_depth"):
        load_thermal(np.zeros((2, 2), np.uint8), high_bit_depth="auto")
    empty = tmp_path / "t.png"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match=r"t\.png: empty file"):
        load_thermal(empty)
    with pytest.raises(DecodeError, match="corrupt or truncated"):
        load_thermal(_png(Image.new("L", (64, 64)))[:60])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1024))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        load_thermal(data)
