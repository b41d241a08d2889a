"""Depth decoding: units (mm PNG, metre npy/npz), layouts, and bad inputs."""

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
from openbind.io.depth import load_depth


def _png16(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a.astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_16bit_png_is_millimetres(tmp_path: Path) -> None:
    mm = np.array([[0, 1000, 2500], [65535, 1, 500]], np.uint16)
    path = tmp_path / "d.png"
    path.write_bytes(_png16(mm))
    m = load_depth(path)
    assert m.dtype == np.float32 and m.shape == (2, 3)
    np.testing.assert_allclose(m, mm / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(load_depth(path, unit_scale=1e-4), mm / 1e4, rtol=1e-6)


def test_npy_and_npz_are_metres(tmp_path: Path) -> None:
    metres = np.array([[0.5, 1.25], [3.0, 0.0]], np.float64)
    np.testing.assert_array_equal(load_depth(_npy(metres)), metres.astype(np.float32))
    path = tmp_path / "scan.npz"
    np.savez(path, depth=metres[None], rgb=np.zeros((2, 2, 3)))
    np.testing.assert_array_equal(load_depth(path), metres.astype(np.float32))
    single = tmp_path / "one.npz"
    np.savez(single, whatever=metres[..., None])
    np.testing.assert_array_equal(load_depth(single), metres.astype(np.float32))
    many = tmp_path / "many.npz"
    np.savez(many, a=metres, b=metres)
    with pytest.raises(BadInput, match=r"many\.npz: npz holds arrays \['a', 'b'\]"):
        load_depth(many)


def test_arrays_integer_is_mm_float_is_metres_and_invalid_is_zero() -> None:
    np.testing.assert_allclose(load_depth(np.array([[1500]], np.uint16)), [[1.5]])
    out = load_depth(np.array([[2.0, np.nan, -1.0, np.inf]], np.float32))
    assert out.tolist() == [[2.0, 0.0, 0.0, 0.0]]


def test_float_tiff_is_metres() -> None:
    buf = io.BytesIO()
    Image.fromarray(np.array([[1.5, 2.25]], np.float32)).save(buf, format="TIFF")
    assert load_depth(buf.getvalue()).tolist() == [[1.5, 2.25]]


def test_8bit_images_are_refused() -> None:
    buf = io.BytesIO()
    Image.new("L", (4, 4), 128).save(buf, format="PNG")
    with pytest.raises(DecodeError, match=r"L \(8-bit\) images carry no depth units"):
        load_depth(buf.getvalue())


def test_bad_shapes_and_files(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"got shape \(2, 2, 3\)"):
        load_depth(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(BadInput, match="integer or float"):
        load_depth(np.zeros((2, 2), np.complex64))
    empty = tmp_path / "d.npy"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match=r"d\.npy: empty file"):
        load_depth(empty)
    broken = tmp_path / "b.npy"
    broken.write_bytes(_npy(np.zeros((50, 50)))[:100])
    with pytest.raises(DecodeError, match=r"b\.npy: corrupt numpy file"):
        load_depth(broken)
    text = tmp_path / "depth.exr"
    text.write_text("not an image")
    with pytest.raises(DecodeError, match=r"depth\.exr: not an image"):
        load_depth(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1024))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        load_depth(data)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_random_npy_payload_only_raises_bad_input(tail: bytes) -> None:
    with contextlib.suppress(BadInput):  # DecodeError, or BadInput for a valid odd array
        load_depth(b"\x93NUMPY" + tail)
