"""Thermal preprocessing: the 8-bit image recipe, 16-bit inputs, config, passthrough."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from openbind.config import from_dict, to_dict
from openbind.errors import BadInput, ConfigError
from openbind.preprocess.thermal import ThermalConfig, ThermalTransform


def test_8bit_matches_the_pil_grayscale_recipe() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(90, 120), dtype=np.uint8)
    x = ThermalTransform()(a)
    assert x.shape == (1, 1, 224, 224)
    # Resize(224, BICUBIC) on the L image, CenterCrop(224), ToTensor: all in 8-bit Pillow.
    im = Image.fromarray(a).resize((298, 224), Image.Resampling.BICUBIC).crop((37, 0, 261, 224))
    expected = np.asarray(im, dtype=np.float32) / np.float32(255.0)
    np.testing.assert_array_equal(x[0, 0].numpy(), expected)


def test_16bit_and_normalisation() -> None:
    raw = np.full((30, 30), 8000, np.uint16)
    raw[:, 15:] = 9000
    x = ThermalTransform(ThermalConfig(size=30, crop_size=30, interpolation="nearest"))(raw)
    assert x[0, 0, 0, 0] == 0.0 and x[0, 0, 0, -1] == 1.0
    y = ThermalTransform(ThermalConfig(mean=0.5, std=0.5))(np.full((8, 8), 255, np.uint8))
    np.testing.assert_allclose(y.numpy(), 1.0)


def test_config_and_passthrough() -> None:
    config = ThermalConfig(high_bit_depth="scale", mean=0.2)
    assert from_dict(ThermalConfig, json.loads(json.dumps(to_dict(config)))) == config
    with pytest.raises(ConfigError, match="high_bit_depth"):
        ThermalConfig(high_bit_depth="agc")
    t = ThermalTransform()
    assert torch.equal(t(torch.zeros(2, 1, 224, 224)), torch.zeros(2, 1, 224, 224))
    with pytest.raises(BadInput, match=r"got \(1, 1, 200, 200\)"):
        t(torch.zeros(1, 1, 200, 200))
