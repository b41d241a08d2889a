"""IMU preprocessing: resampling onto the 2000-sample window, clips, padding, config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openbind.config import from_dict, to_dict
from openbind.errors import BadInput, ConfigError
from openbind.io.imu import ImuRecording
from openbind.preprocess.imu import ImuConfig, ImuTransform, preprocess_imu, resample_window


def _ramp(rate: float, seconds: float) -> ImuRecording:
    """Channel c holds (c + 1) * t: linear signals are resampled exactly."""
    t = np.arange(int(rate * seconds)) / rate
    data = np.stack([(c + 1) * t for c in range(6)]).astype(np.float32)
    return ImuRecording(data, rate=rate)


def test_resampling_to_400hz_window_is_exact_on_linear_signals() -> None:
    x = preprocess_imu(_ramp(200, 6.0), ImuConfig())
    assert x.shape == (1, 6, 2000) and x.dtype == torch.float32
    grid = np.arange(2000) / 400.0  # 5 s at 400 Hz
    for c in range(6):
        np.testing.assert_allclose(x[0, c].numpy(), (c + 1) * grid, rtol=1e-5, atol=1e-6)


def test_timestamps_with_jitter_are_used() -> None:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.004, 0.006, size=1500))
    t -= t[0]
    data = np.stack([np.full_like(t, 2.0), t, t, t, t, t]).astype(np.float32)
    x = ImuTransform()(ImuRecording(data, timestamps=t + 100.0))
    grid = np.arange(2000) / 400.0
    inside = grid <= t[-1]
    np.testing.assert_allclose(x[0, 1].numpy()[inside], grid[inside], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x[0, 0].numpy(), 2.0)


def test_short_recording_pads_edge_or_zero() -> None:
    rec = _ramp(100, 1.0)  # 1 s, last value 0.99 * (c + 1)
    edge = preprocess_imu(rec, ImuConfig())
    assert edge[0, 0, -1].item() == pytest.approx(0.99)
    zero = preprocess_imu(rec, ImuConfig(pad="zero"))
    assert zero[0, 0, -1].item() == 0.0 and zero[0, 0, 300].item() == pytest.approx(0.75)


def test_multiple_clips_spread_like_video_clips() -> None:
    x = preprocess_imu(_ramp(100, 15.0), ImuConfig(clips=3))  # duration 15 s: starts 0, 5, 10
    assert x.shape == (3, 6, 2000)
    assert [round(x[k, 0, 0].item(), 4) for k in range(3)] == [0.0, 5.0, 10.0]


def test_untimed_data_needs_exact_length_or_a_rate() -> None:
    exact = np.random.default_rng(0).normal(size=(6, 2000)).astype(np.float32)
    assert torch.equal(ImuTransform()(exact)[0], torch.from_numpy(exact))
    with pytest.raises(BadInput, match="500 IMU samples without timestamps or a rate"):
        ImuTransform()(np.zeros((6, 500), np.float32))
    assert ImuTransform(ImuConfig(default_rate=100))(np.zeros((500, 6))).shape == (1, 6, 2000)


def test_normalisation_config_and_passthrough() -> None:
    config = ImuConfig(mean=(1.0,) * 6, std=(2.0,) * 6, default_rate=50.0)
    x = ImuTransform(config)(np.full((6, 100), 5.0, np.float32))
    np.testing.assert_allclose(x.numpy(), 2.0)
    assert from_dict(ImuConfig, json.loads(json.dumps(to_dict(config)))) == config
    with pytest.raises(ConfigError, match="pad"):
        ImuConfig(pad="reflect")
    with pytest.raises(BadInput, match=r"\(6, 2000\) or \(S, 6, 2000\); got \(6, 1000\)"):
        ImuTransform()(torch.zeros(6, 1000))
    assert resample_window(np.ones((1, 3)), np.array([0.0, 1.0, 2.0]), 0, 1, 4, "zero").shape == (
        1,
        4,
    )
