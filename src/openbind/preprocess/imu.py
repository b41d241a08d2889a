"""IMU preprocessing: resample 6-channel recordings to the model window -> (clips, 6, 2000).

ImageBind's IMU tower takes exactly 2000 samples of 6 channels (its positional embedding fixes
the length; reference issue 66). The paper describes 5-second Ego4D IMU windows, so openbind
assumes **2000 samples span 5 s (400 Hz)**: `window_seconds=5`, `num_samples=2000`. Recordings
at any rate are linearly interpolated onto that grid (`numpy.interp`, per channel), using their
timestamps, or their sample rate when they have none. A recording without timing information
that already has exactly `num_samples` samples is taken as one window unchanged.

Windows: `clips` windows spread evenly over the recording (the same rule as video clips; one
window starting at the first sample by default). Past the end of a short recording the last
value is held (`pad="edge"`, physically plausible: gravity stays on the accelerometer) or zeros
are used (`pad="zero"`).

No normalisation constants were published; `mean` / `std` (per channel) default to 0 / 1, i.e.
raw m/s^2 and rad/s as Ego4D stores them.

Example:
    >>> ImuTransform(ImuConfig(default_rate=200))("walk.csv").shape
    torch.Size([1, 6, 2000])
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from openbind.errors import BadInput, ConfigError
from openbind.io.clips import clip_spans
from openbind.io.imu import TIME_UNITS, ImuRecording, load_imu
from openbind.preprocess.common import check_clips

__all__ = ["PADS", "ImuConfig", "ImuTransform", "preprocess_imu", "resample_window"]

PADS = ("edge", "zero")


@dataclass(frozen=True)
class ImuConfig:
    """How IMU recordings become model input. Stored as JSON next to the weights.

    Attributes:
        num_samples: samples per model window (2000 for ImageBind).
        window_seconds: seconds a window spans (assumed 5 s, see the module docstring).
        clips: windows per recording, spread evenly.
        default_rate: sample rate (Hz) for files and arrays without timestamps or a rate.
        time_unit: unit of timestamps in files: "s", "ms", "us", "ns", or None (from the CSV
            header, else seconds).
        pad: "edge" or "zero" past the end of short recordings.
        mean: per-channel value subtracted (acc xyz, gyro xyz).
        std: per-channel divisor.
    """

    num_samples: int = 2000
    window_seconds: float = 5.0
    clips: int = 1
    default_rate: float | None = None
    time_unit: str | None = None
    pad: str = "edge"
    mean: tuple[float, float, float, float, float, float] = (0.0,) * 6
    std: tuple[float, float, float, float, float, float] = (1.0,) * 6

    def __post_init__(self) -> None:
        if self.num_samples < 1 or self.window_seconds <= 0 or self.clips < 1:
            raise ConfigError(f"ImuConfig: num_samples, window_seconds, clips must be > 0: {self}")
        if self.default_rate is not None and self.default_rate <= 0:
            raise ConfigError(f"ImuConfig: default_rate must be > 0, got {self.default_rate}")
        if (
            self.time_unit is not None and self.time_unit not in TIME_UNITS
        ) or self.pad not in PADS:
            raise ConfigError(
                f"ImuConfig: time_unit in {sorted(TIME_UNITS)}, pad in {PADS}; got {self}"
            )
        if len(self.mean) != 6 or len(self.std) != 6 or min(self.std) <= 0:
            raise ConfigError("ImuConfig: mean and std need 6 values each, std > 0")

    @property
    def clip_shape(self) -> tuple[int, int]:
        """Shape of one model-ready window: (6, num_samples)."""
        return (6, self.num_samples)


def resample_window(
    data: np.ndarray, times: np.ndarray, start: float, seconds: float, num_samples: int, pad: str
) -> np.ndarray:
    """Linearly interpolate (C, T) samples at `times` onto `num_samples` points from `start`.

    Point k is at `start + k * seconds / num_samples`.

    Returns:
        (C, num_samples) float32.
    """
    grid = start + np.arange(num_samples, dtype=np.float64) * (seconds / num_samples)
    out = np.empty((data.shape[0], num_samples), np.float32)
    for c in range(data.shape[0]):
        if pad == "zero":
            out[c] = np.interp(grid, times, data[c], left=0.0, right=0.0)
        else:
            out[c] = np.interp(grid, times, data[c])
    return out


def preprocess_imu(recording: ImuRecording, config: ImuConfig) -> torch.Tensor:
    """A decoded recording -> model-ready (clips, 6, num_samples) float32.

    Raises:
        BadInput: the recording has no timing (no timestamps, no rate, no `default_rate`) and
            not exactly `num_samples` samples.
    """
    c = config
    data = recording.data
    rate = recording.rate if recording.rate is not None else c.default_rate
    timed = ImuRecording(data, recording.timestamps, rate, recording.name)
    times = timed.times()
    if times is None:
        if data.shape[1] != c.num_samples:
            raise BadInput(
                f"{data.shape[1]} IMU samples without timestamps or a rate: pass rate= (Hz), "
                f"set ImuConfig.default_rate, or give exactly {c.num_samples} samples",
                source=recording.name,
            )
        windows = np.repeat(data[None], c.clips, axis=0)  # (clips, 6, num_samples)
    else:
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        duration = float(times[-1]) + step
        starts = [float(s) for s, _ in clip_spans(duration, Fraction(c.window_seconds), c.clips)]
        windows = np.stack(
            [
                resample_window(data, times, s, c.window_seconds, c.num_samples, c.pad)
                for s in starts
            ]
        )  # (clips, 6, num_samples)
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    mean = torch.tensor(c.mean, dtype=torch.float32).view(1, 6, 1)
    std = torch.tensor(c.std, dtype=torch.float32).view(1, 6, 1)
    return x.sub_(mean).div_(std)


class ImuTransform:
    """Decode + preprocess one IMU recording into a (clips, 6, num_samples) tensor. Thread-safe.

    Items: whatever `openbind.io.imu.load_imu` accepts (paths, bytes, arrays, `ImuRecording`),
    or an already preprocessed tensor of shape (6, num_samples) or (S, 6, num_samples), passed
    through after a shape check.
    """

    def __init__(self, config: ImuConfig | None = None) -> None:
        self.config = config or ImuConfig()

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        x = check_clips(item, c.clip_shape, "imu")
        if x is not None:
            return x
        recording = load_imu(item, rate=c.default_rate, time_unit=c.time_unit)
        return preprocess_imu(recording, c)

    def __repr__(self) -> str:
        return f"ImuTransform({self.config})"
