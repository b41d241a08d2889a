"""IMU decoding: CSV with/without header and timestamps, npy/npz, channel checks, bad files."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openbind.errors import BadInput, DecodeError
from openbind.io.imu import ImuRecording, load_imu

DATA = np.arange(5 * 6, dtype=np.float32).reshape(5, 6) / 10  # (T, 6)
STAMPS = np.array([0.0, 0.01, 0.02, 0.04, 0.05])


def _csv(header: str | None, rows: np.ndarray, sep: str = ",") -> bytes:
    lines = [header] if header else []
    lines += [sep.join(f"{v:g}" for v in r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def test_csv_header_with_timestamp_column() -> None:
    rows = np.column_stack([STAMPS, DATA])
    rec = load_imu(_csv("timestamp,ax,ay,az,gx,gy,gz", rows))
    np.testing.assert_allclose(rec.data, DATA.T, rtol=1e-6)
    np.testing.assert_allclose(rec.timestamps, STAMPS)
    assert rec.rate is None


def test_csv_without_header_seven_columns_and_ms_units() -> None:
    rows = np.column_stack([STAMPS * 1000, DATA])
    rec = load_imu(_csv(None, rows, sep=";"), time_unit="ms")
    np.testing.assert_allclose(rec.timestamps, STAMPS)
    np.testing.assert_allclose(rec.data, DATA.T, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "scale"), [("time_ms", 1e3), ("Time (s)", 1.0), ("timestamp[ns]", 1e9), ("t", 1.0)]
)
def test_time_unit_from_the_header(name: str, scale: float) -> None:
    rows = np.column_stack([STAMPS * scale, DATA])
    rec = load_imu(_csv(f"{name},ax,ay,az,gx,gy,gz", rows))
    np.testing.assert_allclose(rec.timestamps, STAMPS)
    explicit = load_imu(_csv(f"{name},ax,ay,az,gx,gy,gz", rows), time_unit="s")
    np.testing.assert_allclose(explicit.timestamps, STAMPS * scale)


def test_csv_six_columns_needs_rate_and_whitespace_separator() -> None:
    rec = load_imu(_csv(None, DATA, sep=" "), rate=200)
    assert rec.rate == 200 and rec.timestamps is None
    np.testing.assert_allclose(rec.times(), np.arange(5) / 200)
    assert load_imu(_csv(None, DATA)).times() is None  # unknown timing, left to the transform


def test_csv_header_names_reorder_axes() -> None:
    header = "# comment line\ntime,gyro_x,gyro_y,gyro_z,acc_x,acc_y,acc_z"
    rows = np.column_stack([STAMPS, DATA[:, 3:], DATA[:, :3]])
    rec = load_imu(_csv(header, rows))
    np.testing.assert_allclose(rec.data, DATA.T, rtol=1e-6)


def test_npy_both_layouts_and_npz_with_rate_and_timestamps(tmp_path: Path) -> None:
    for array in (DATA, DATA.T):
        buf = io.BytesIO()
        np.save(buf, array)
        np.testing.assert_array_equal(load_imu(buf.getvalue(), rate=50).data, DATA.T)
    path = tmp_path / "walk.npz"
    np.savez(path, imu=DATA, rate=np.array(100.0))
    rec = load_imu(path)
    assert rec.rate == 100.0
    np.savez(path, data=DATA.T, timestamps=STAMPS * 1e9)
    rec = load_imu(path, time_unit="ns")
    np.testing.assert_allclose(rec.timestamps, STAMPS)


@pytest.mark.parametrize("shape", [(5, 5), (3, 100), (100, 7), (6,), (2, 6, 10)])
def test_wrong_channel_count_names_file_and_shape(shape: tuple[int, ...], tmp_path: Path) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros(shape, np.float32))
    with pytest.raises(BadInput, match=rf"bad\.npy: IMU data must have 6 channels.*{shape}"):
        load_imu(path)


def test_csv_wrong_columns_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "imu.csv"
    path.write_bytes(_csv("t,ax,ay,az", np.column_stack([STAMPS, DATA[:, :3]])))
    with pytest.raises(BadInput, match=r"imu\.csv: IMU CSV must have 6 data columns.*got 3"):
        load_imu(path)
    path.write_bytes(b"1,2,3,4,5,6\n1,2,3\n")
    with pytest.raises(DecodeError, match="row 2 has 3 columns"):
        load_imu(path)
    path.write_bytes(b"t,a,b,c,d,e,f\n0,1,2,3,4,5,x\n")
    with pytest.raises(DecodeError, match="row 2 is not numeric"):
        load_imu(path)
    path.write_bytes(b"t,a,b,c,d,e,f\n")
    with pytest.raises(DecodeError, match="header but no samples"):
        load_imu(path)
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(DecodeError, match="not a text CSV"):
        load_imu(path)


def test_bad_timestamps_and_values() -> None:
    rows = np.column_stack([[0, 0.02, 0.01, 0.03, 0.04], DATA])
    with pytest.raises(BadInput, match="strictly increasing"):
        load_imu(_csv(None, rows))
    with pytest.raises(BadInput, match="NaN"):
        load_imu(np.full((6, 3), np.nan))
    with pytest.raises(BadInput, match="time_unit"):
        load_imu(DATA, time_unit="min")


def test_recording_passes_through() -> None:
    rec = ImuRecording(DATA.T.copy(), rate=10.0)
    assert load_imu(rec) is rec


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1024))
def test_random_bytes_only_raise_bad_input(data: bytes) -> None:
    with contextlib.suppress(BadInput):  # DecodeError, or BadInput for parseable odd data
        load_imu(data)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789.,-e \n;tx", max_size=300))
def test_random_csv_text_only_raises_bad_input(text: str) -> None:
    with contextlib.suppress(BadInput):
        load_imu(text.encode(), rate=100)
