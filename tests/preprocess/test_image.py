"""Image preprocessing: bit-exact parity with the ImageBind reference, config, tensor passthrough."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from openbind.config import from_dict, to_dict
from openbind.errors import BadInput, ConfigError
from openbind.io.image import open_image
from openbind.preprocess.common import CLIP_STD, center_crop_offset
from openbind.preprocess.image import (
    ImageConfig,
    ImageTransform,
    center_crop,
    preprocess_image,
    resize_short_side,
)

GOLDEN = Path(__file__).parents[1] / "golden"


def test_reference_parity_on_golden_images() -> None:
    golden = np.load(GOLDEN / "preproc" / "vision.npz")
    transform = ImageTransform()
    for i, name in enumerate(golden["files"]):
        x = transform(GOLDEN / "media" / str(name))
        assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
        np.testing.assert_allclose(x[0].numpy(), golden["vision"][i], rtol=0, atol=1e-6)


def test_parity_mode_and_threads_give_the_same_tensors() -> None:
    golden = np.load(GOLDEN / "preproc" / "vision.npz")
    paths = [GOLDEN / "media" / str(name) for name in golden["files"]]
    strict = ImageTransform(ImageConfig.parity())
    assert not strict.config.exif_transpose and strict.config.alpha == "drop"
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(strict, paths * 4))
    for i, x in enumerate(outs):
        np.testing.assert_array_equal(x[0].numpy(), golden["vision"][i % 2])


def test_resize_truncates_long_side_and_upscales_small() -> None:
    assert resize_short_side(Image.new("RGB", (640, 480)), 224).size == (298, 224)  # 298.67
    assert resize_short_side(Image.new("RGB", (300, 500)), 224).size == (224, 373)  # 373.33
    assert resize_short_side(Image.new("RGB", (1, 1)), 224).size == (224, 224)
    assert resize_short_side(Image.new("RGB", (10, 1)), 224).size == (2240, 224)


def test_center_crop_uses_bankers_rounding() -> None:
    assert center_crop_offset(225, 224) == 0  # round(0.5) == 0
    assert center_crop_offset(227, 224) == 2  # round(1.5) == 2
    assert center_crop_offset(298, 224) == 37
    a = np.arange(227, dtype=np.uint8)[None, :].repeat(224, 0)  # column index as value
    crop = np.asarray(center_crop(Image.fromarray(a), 224))
    assert crop[0, 0] == 2 and crop.shape == (224, 224)


def test_one_by_one_image_gives_a_constant_tensor() -> None:
    x = ImageTransform()(Image.new("RGB", (1, 1), (255, 0, 0)))
    assert x.shape == (1, 3, 224, 224)
    expected = [(1 - 0.48145466) / 0.26862954, -0.4578275 / 0.26130258, -0.40821073 / 0.27577711]
    np.testing.assert_allclose(x[0, :, 100, 100].numpy(), expected, rtol=1e-6)
    assert torch.all(x[0] == x[0, :, :1, :1])


def test_starter_config_normalisation() -> None:
    config = ImageConfig(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
    x = preprocess_image(Image.new("RGB", (300, 300), (255, 127, 0)), config)
    np.testing.assert_allclose(x[:, 0, 0].numpy(), [1.0, 0.0, -127 / 128], atol=1e-6)


def test_config_round_trips_through_json_dict() -> None:
    config = ImageConfig(size=256, crop_size=224, alpha="white", max_pixels=None)
    assert from_dict(ImageConfig, json.loads(json.dumps(to_dict(config)))) == config
    with pytest.raises(ConfigError, match="interpolation"):
        ImageConfig(interpolation="cubic")
    with pytest.raises(ConfigError, match="alpha"):
        ImageConfig(alpha="black")


def test_tensor_items_pass_through_after_shape_check() -> None:
    transform = ImageTransform()
    x = torch.randn(3, 224, 224)
    out = transform(x)
    assert out.shape == (1, 3, 224, 224) and torch.equal(out[0], x)
    assert transform(torch.randn(2, 3, 224, 224)).shape == (2, 3, 224, 224)
    with pytest.raises(
        BadInput, match=r"\(3, 224, 224\) or \(S, 3, 224, 224\); got \(3, 200, 200\)"
    ):
        transform(torch.randn(3, 200, 200))
    with pytest.raises(BadInput, match="floating point"):
        transform(torch.zeros(3, 224, 224, dtype=torch.uint8))


def test_non_square_crop_config() -> None:
    x = ImageTransform(ImageConfig(size=256, crop_size=224))(np.zeros((300, 400, 3), np.uint8))
    assert x.shape == (1, 3, 224, 224)


def _smooth_photo(h: int, w: int, seed: int) -> np.ndarray:
    """A photo-like uint8 image: smooth gradients plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    planes = [np.sin(yy / 17.0 + c) * 80 + np.cos(xx / 29.0 - c) * 40 + 128 for c in range(3)]
    a = np.stack(planes, -1) + rng.normal(0, 4, (h, w, 3))
    return np.clip(a, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("shape", "size", "crop"),
    [((480, 640), 224, 224), ((500, 300), 224, 224), ((90, 120), 224, 224), ((300, 400), 200, 224)],
)
def test_fast_resize_is_within_two_grey_levels_of_pillow(shape, size, crop) -> None:
    im = Image.fromarray(_smooth_photo(*shape, seed=sum(shape)))
    exact = ImageTransform(ImageConfig(size=size, crop_size=crop))(im)
    fast = ImageTransform(ImageConfig(size=size, crop_size=crop, fast=True))(im)
    grey_levels = ((fast - exact) * torch.tensor(CLIP_STD).view(1, 3, 1, 1) * 255).abs()
    assert fast.shape == exact.shape == (1, 3, crop, crop)
    assert grey_levels.max() <= 2.0 + 1e-3
    assert (grey_levels > 0.5).float().mean() < 0.05  # most pixels are equal
    if crop > size:  # the padding outside the resized image is black in both
        assert torch.equal(fast[..., :12, :], exact[..., :12, :])


def test_fast_mode_decodes_large_jpegs_at_reduced_size(tmp_path) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(_smooth_photo(1200, 1600, seed=3)).save(path, quality=92)
    assert open_image(path, draft_short_side=448).size == (800, 600)  # DCT scale 1/2
    assert open_image(path, draft_short_side=100).size == (200, 150)  # 1/8, never below
    assert open_image(path).size == (1600, 1200)
    exact = ImageTransform()(path)
    fast = ImageTransform(ImageConfig(fast=True))(path)
    cosine = torch.nn.functional.cosine_similarity(fast.flatten(), exact.flatten(), dim=0)
    assert cosine > 0.999
    assert ((fast - exact) * torch.tensor(CLIP_STD).view(1, 3, 1, 1) * 255).abs().max() < 12


def test_fast_mode_refuses_interpolations_torch_lacks() -> None:
    with pytest.raises(ConfigError, match="fast=True supports interpolation"):
        ImageConfig(interpolation="lanczos", fast=True)
