"""Depth preprocessing: disparity / metres conversion, resize + crop, config, passthrough."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from openbind.config import from_dict, to_dict
from openbind.errors import BadInput, ConfigError
from openbind.preprocess.depth import (
    DepthConfig,
    DepthTransform,
    depth_to_disparity,
    preprocess_depth,
)


def test_depth_to_disparity_formula_clipping_and_missing() -> None:
    depth = np.array([[1.0, 2.0, 0.0, 0.001, 100.0]], np.float32)
    out = depth_to_disparity(depth, focal_length=500.0, baseline=0.1)
    np.testing.assert_allclose(out, [[50.0, 25.0, 0.0, 5000.0, 1.0]], rtol=1e-6)
    assert out.dtype == np.float32


def test_constant_depth_gives_constant_model_input() -> None:
    config = DepthConfig()
    x = preprocess_depth(np.full((48, 64), 2.0, np.float32), config)
    assert x.shape == (1, 224, 224)
    expected = 0.075 * 518.8579 / 2.0
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5)
    metres = preprocess_depth(
        np.full((48, 64), 2.0, np.float32), DepthConfig(representation="metres")
    )
    np.testing.assert_allclose(metres.numpy(), 2.0, rtol=1e-5)


def test_metres_mode_clips_far_and_normalises() -> None:
    config = DepthConfig(representation="metres", max_depth=10.0, mean=1.0, std=2.0)
    x = preprocess_depth(np.full((10, 10), 30.0, np.float32), config)
    np.testing.assert_allclose(x.numpy(), (10.0 - 1.0) / 2.0, rtol=1e-6)


def test_transform_end_to_end_from_png_equals_manual_steps() -> None:
    rng = np.random.default_rng(0)
    mm = rng.integers(400, 6000, size=(120, 160)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(mm).save(buf, format="PNG")
    x = DepthTransform()(buf.getvalue())
    assert x.shape == (1, 1, 224, 224) and x.dtype == torch.float32
    disparity = (0.075 * 518.8579 / (mm / 1000.0)).astype(np.float32)
    im = Image.fromarray(disparity).resize((298, 224), Image.Resampling.BICUBIC)
    manual = np.asarray(im.crop((37, 0, 261, 224)))
    np.testing.assert_allclose(x[0, 0].numpy(), manual, rtol=1e-4, atol=1e-4)


def test_config_and_passthrough() -> None:
    config = DepthConfig(representation="metres", focal_length=600.0)
    assert from_dict(DepthConfig, json.loads(json.dumps(to_dict(config)))) == config
    with pytest.raises(ConfigError, match="representation"):
        DepthConfig(representation="inverse")
    with pytest.raises(ConfigError, match="min_depth"):
        DepthConfig(min_depth=5.0, max_depth=1.0)
    t = DepthTransform()
    assert t(torch.ones(1, 224, 224)).shape == (1, 1, 224, 224)
    with pytest.raises(
        BadInput, match=r"\(1, 224, 224\) or \(S, 1, 224, 224\); got \(3, 224, 224\)"
    ):
        t(torch.ones(3, 224, 224))
