"""IMU decoding: CSV, `.npy` / `.npz` and arrays -> 6 channels (acc xyz, gyro xyz) with timing.

Channel layout: accelerometer x, y, z then gyroscope x, y, z (ImageBind's 6 x T input, as the
paper describes it). Values are kept in the file's units; Ego4D, which ImageBind's IMU tower was
trained on, stores m/s^2 and rad/s. When CSV headers name the axes (`acc_x`, `gyro_y`,
`accel z`, ...) the columns are put in that order; otherwise the file order must be it.

Timing, one of:
* a timestamp column (CSV header `t`, `ts`, `time*` or `timestamp*`; or, without a header, a 7th
  column first), or a `timestamps` array in an `.npz`, in `time_unit` units; by default the unit
  comes from the CSV header (`time_ms`, `Time (s)`, `timestamp[ns]`), else seconds;
* a sample rate: `rate=` (Hz), or `rate` / `fs` in an `.npz`.
Timestamps win when both are given.

Layouts accepted for arrays: (6, T) or (T, 6); a (6, 6) array is read as (6, T).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from openbind.errors import BadInput, DecodeError
from openbind.io.sources import NPY_MAGIC, NPZ_MAGIC, Source, load_arrays, to_source

__all__ = ["CHANNELS", "TIME_UNITS", "ImuRecording", "load_imu"]

CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
"""The channel order of `ImuRecording.data`."""
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
"""Seconds per unit of each accepted `time_unit`."""

_TIME_NAME = re.compile(r"^(t|ts|sec|secs|seconds|time.*|timestamp.*)$")
_AXIS_NAME = re.compile(r"^(acc|accel|accelerometer|gyr|gyro|gyroscope)[\s_./-]*([xyz])", re.I)
_UNIT_NAME = re.compile(r"[\s_(\[](s|ms|us|µs|ns)[)\]]?$")
_DATA_KEYS = ("imu", "data", "array")
_TIME_KEYS = ("timestamps", "timestamp", "times", "time", "t")
_RATE_KEYS = ("rate", "fs", "hz", "sample_rate")


@dataclass(frozen=True, eq=False)
class ImuRecording:
    """IMU samples and their timing.

    Attributes:
        data: (6, T) float32, channels as `CHANNELS`.
        timestamps: (T,) float64 seconds, strictly increasing, or None.
        rate: samples per second when there are no timestamps, or None (timing unknown).
        name: the source, for error messages.
    """

    data: np.ndarray
    timestamps: np.ndarray | None = None
    rate: float | None = None
    name: str = "imu"

    def times(self) -> np.ndarray | None:
        """(T,) seconds from the first sample, or None when the timing is unknown."""
        if self.timestamps is not None:
            return self.timestamps - self.timestamps[0]
        if self.rate is not None:
            return np.arange(self.data.shape[1], dtype=np.float64) / self.rate
        return None


def load_imu(item: Any, *, rate: float | None = None, time_unit: str | None = None) -> ImuRecording:
    """Decode IMU samples.

    Args:
        item: a path, bytes or binary file object (CSV, `.npy`, `.npz`), an array (6, T) /
            (T, 6), or an `ImuRecording` (returned as is).
        rate: sample rate in Hz for data without timestamps.
        time_unit: unit of timestamps: "s", "ms", "us" or "ns"; None: from the CSV header
            name of the timestamp column, else seconds.

    Raises:
        BadInput: wrong channel count (the message names the item and the shape), bad
            timestamps, NaN values, bad arguments.
        DecodeError: an empty, corrupt or non-CSV / non-numpy file.
    """
    if isinstance(item, ImuRecording):
        return item
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise BadInput(f"time_unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}")
    if rate is not None and not rate > 0:
        raise BadInput(f"rate must be > 0 Hz, got {rate}")
    src = to_source(item)
    if src.array is not None:
        data, stamps = _channels(np.asarray(src.array), src.name), None
    else:
        head = src.read()[:6]
        if head.startswith((NPY_MAGIC, NPZ_MAGIC)):
            data, stamps, file_rate = _from_numpy(src)
            rate = file_rate or rate
        else:
            data, stamps, hint = _from_csv(src)
            time_unit = time_unit or hint
    if stamps is not None:
        scale = TIME_UNITS[time_unit or "s"]
        stamps = _check_timestamps(stamps * scale, data.shape[1], src.name)
    if not np.isfinite(data).all():
        raise BadInput("IMU data contains NaN or infinity", source=src.name)
    return ImuRecording(data, stamps, None if stamps is not None else rate, src.name)


def _channels(a: np.ndarray, name: str) -> np.ndarray:
    """(6, T) float32 from a (6, T) or (T, 6) array."""
    if a.ndim == 2 and a.shape[0] == 6:
        out = a
    elif a.ndim == 2 and a.shape[1] == 6:
        out = a.T  # (6, T)
    else:
        raise BadInput(
            "IMU data must have 6 channels (acc xyz, gyro xyz) as (6, T) or (T, 6); "
            f"got shape {a.shape}",
            source=name,
        )
    if out.shape[1] == 0:
        raise BadInput("IMU data has no samples", source=name)
    if not (np.issubdtype(out.dtype, np.floating) or np.issubdtype(out.dtype, np.integer)):
        raise BadInput(f"IMU data must be numeric, got {out.dtype}", source=name)
    return np.ascontiguousarray(out, dtype=np.float32)


def _from_numpy(src: Source) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    arrays = load_arrays(src)
    stamps = next((arrays[k] for k in _TIME_KEYS if k in arrays), None)
    rate_arr = next((arrays[k] for k in _RATE_KEYS if k in arrays), None)
    rest = {k: v for k, v in arrays.items() if k not in _TIME_KEYS and k not in _RATE_KEYS}
    key = next((k for k in _DATA_KEYS if k in rest), None)
    if key is None and len(rest) == 1:
        key = next(iter(rest))
    if key is None:
        raise BadInput(
            f"npz holds arrays {sorted(arrays)}; name the samples 'imu' or 'data'",
            source=src.name,
        )
    rate = None
    if rate_arr is not None:
        if np.size(rate_arr) != 1 or not float(np.asarray(rate_arr).reshape(())) > 0:
            raise BadInput(
                f"npz rate must be one positive number, got {rate_arr!r}", source=src.name
            )
        rate = float(np.asarray(rate_arr).reshape(()))
    if stamps is not None:
        stamps = np.asarray(stamps, dtype=np.float64).reshape(-1)
    return _channels(np.asarray(rest[key]), src.name), stamps, rate


def _from_csv(src: Source) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """(6, T) samples, timestamps (file units) and the time unit the header names, if any."""
    try:
        text = src.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DecodeError("not a text CSV (and not .npy / .npz)", source=src.name) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise DecodeError("no rows in the CSV", source=src.name)
    rows = _split(lines)
    header = None if _numeric(rows[0]) else [c.strip().lower() for c in rows[0]]
    body = rows[1:] if header is not None else rows
    if not body:
        raise DecodeError("the CSV has a header but no samples", source=src.name)
    width = len(body[0])
    values = np.empty((len(body), width), np.float64)
    for i, row in enumerate(body):
        if len(row) != width:
            line = i + 1 + (header is not None)
            raise DecodeError(
                f"row {line} has {len(row)} columns, expected {width}", source=src.name
            )
        try:
            values[i] = [float(c) for c in row]
        except ValueError:
            line = i + 1 + (header is not None)
            raise DecodeError(f"row {line} is not numeric: {row[:8]}", source=src.name) from None
    if header is not None and len(header) != width:
        raise DecodeError(f"header has {len(header)} names for {width} columns", source=src.name)
    time_col = _time_column(header, width)
    cols = [c for c in range(width) if c != time_col]
    if len(cols) != 6:
        names = [header[c] for c in cols] if header else f"{len(cols)} columns"
        raise BadInput(
            "IMU CSV must have 6 data columns (acc xyz, gyro xyz) plus an optional timestamp; "
            f"got {len(cols)}: {names}; shape {values.shape}",
            source=src.name,
        )
    if header is not None:
        cols = _axis_order(header, cols)
    data = np.ascontiguousarray(values[:, cols].T, dtype=np.float32)  # (6, T)
    stamps = values[:, time_col] if time_col is not None else None
    hint = _unit_hint(header[time_col]) if header is not None and time_col is not None else None
    return data, stamps, hint


def _split(lines: list[str]) -> list[list[str]]:
    first = lines[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    if delimiter is None:
        return [ln.split() for ln in lines]
    return [row for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)]


def _numeric(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True


def _time_column(header: list[str] | None, width: int) -> int | None:
    if header is None:
        return 0 if width == 7 else None
    return next((i for i, name in enumerate(header) if _TIME_NAME.match(name)), None)


def _unit_hint(name: str) -> str | None:
    m = _UNIT_NAME.search(name)
    return None if m is None else m.group(1).replace("µ", "u")


def _axis_order(header: list[str], cols: list[int]) -> list[int]:
    """Columns ordered acc x, y, z, gyro x, y, z when the header names all six; else unchanged."""
    found: dict[str, int] = {}
    for c in cols:
        m = _AXIS_NAME.match(header[c])
        if m:
            kind = "acc" if m.group(1).lower().startswith("acc") else "gyro"
            found.setdefault(f"{kind}_{m.group(2).lower()}", c)
    return [found[ch] for ch in CHANNELS] if len(found) == 6 else cols


def _check_timestamps(stamps: np.ndarray, n: int, name: str) -> np.ndarray:
    if stamps.shape != (n,):
        raise BadInput(f"{stamps.shape[0]} timestamps for {n} samples", source=name)
    if not np.isfinite(stamps).all():
        raise BadInput("timestamps contain NaN or infinity", source=name)
    if n > 1 and not (np.diff(stamps) > 0).all():
        raise BadInput("timestamps must be strictly increasing", source=name)
    return stamps.astype(np.float64)
