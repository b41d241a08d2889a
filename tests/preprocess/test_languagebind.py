"""LanguageBind preprocessing against the outputs of the reference processors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from openbind.errors import BadInput, DecodeError
from openbind.preprocess.languagebind import (
    LB_TEXT,
    LBAudioTransform,
    LBDepthConfig,
    LBDepthTransform,
    LBImageConfig,
    LBImageTransform,
    LBVideoTransform,
    audio_chunks,
    frame_indices,
)
from openbind.preprocess.text import TextTransform
from tests.zoo.languagebind_golden import GOLDEN, outputs

MEDIA = GOLDEN.parent / "media"
LANDSCAPE = MEDIA / "img_landscape_640x480.png"


@pytest.fixture(scope="module")
def golden():
    return load_file(GOLDEN / "processors.safetensors")


def sub(x: torch.Tensor) -> torch.Tensor:
    """The stored subsample: every 4th row and column."""
    return x[..., ::4, ::4]


@pytest.mark.parametrize(("antialias", "key"), [(True, "default"), (False, "antialias_false")])
def test_image_matches_the_reference_processor(golden, antialias, key):
    x = LBImageTransform(LBImageConfig(antialias=antialias))(LANDSCAPE)
    assert x.shape == (1, 3, 224, 224)
    expected = golden[f"image/img_landscape_640x480.png/{key}"]
    torch.testing.assert_close(sub(x[0]), expected, atol=1e-5, rtol=0)


def test_image_default_is_the_training_time_resize_without_antialias(golden):
    x = LBImageTransform()(LANDSCAPE)[0]
    torch.testing.assert_close(
        sub(x), golden["image/img_landscape_640x480.png/antialias_false"], atol=1e-5, rtol=0
    )


def test_any_image_mode_is_accepted():
    rgb = Image.open(LANDSCAPE).convert("RGB")
    expected = LBImageTransform()(rgb)
    gray = LBImageTransform()(rgb.convert("L"))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    assert gray.shape == expected.shape == (1, 3, 224, 224)
    unnormalised = [
        gray[0, c] * s + m
        for c, (s, m) in enumerate([(0.26862954, 0.48145466), (0.26130258, 0.4578275)])
    ]
    torch.testing.assert_close(unnormalised[0], unnormalised[1], atol=1e-5, rtol=0)  # R == G
    torch.testing.assert_close(LBImageTransform()(rgba), expected)  # colour kept, alpha dropped
    sixteen = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
    torch.testing.assert_close(LBImageTransform()(sixteen), gray, atol=1e-5, rtol=0)


def test_depth_matches_the_reference_processor(golden):
    x = LBDepthTransform(LBDepthConfig(antialias=True))(
        GOLDEN / "depth_synthetic_240x320_u16mm.png"
    )
    expected = golden["depth/depth_synthetic_240x320_u16mm.png/default"]
    torch.testing.assert_close(sub(x[0]), expected, atol=1e-5, rtol=0)


def test_depth_in_metres_equals_millimetres_and_8_bit_images_are_refused():
    mm = np.asarray(Image.open(GOLDEN / "depth_synthetic_240x320_u16mm.png"))
    from_mm = LBDepthTransform()(mm.astype(np.uint16))
    from_m = LBDepthTransform()(mm.astype(np.float32) / 1000)
    torch.testing.assert_close(from_m, from_mm, atol=1e-5, rtol=0)
    buf = io.BytesIO()
    Image.open(LANDSCAPE).save(buf, format="PNG")
    with pytest.raises(DecodeError, match="carry no depth units"):
        LBDepthTransform()(buf.getvalue())


def test_audio_matches_the_reference_processor(golden):
    x = LBAudioTransform()(MEDIA / "short_1s2_16k_mono.wav")
    untiled = golden["audio/short_1s2_16k_mono.wav/untiled"]  # (112, 118): stored whole
    full = untiled.repeat(1, 1036 // untiled.shape[1] + 1)[:, :1036]
    assert x.shape == (1, 3, 112, 1036)
    for chunk in x[0]:  # measured max |diff| 1.7e-5 (float32 FFT summation order)
        torch.testing.assert_close(chunk, full, atol=2e-5, rtol=0)


def test_long_audio_is_deterministic_front_middle_back():
    fbank = torch.arange(3000.0)[:, None].repeat(1, 2)
    chunks = audio_chunks(fbank, 1036)
    assert chunks[:, 0, 0].tolist() == [0.0, 982.0, 1964.0]
    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(16000 * 25) * 0.1).astype(np.float32)
    a = LBAudioTransform()((wave, 16000))
    assert torch.equal(a, LBAudioTransform()((wave, 16000)))
    assert not torch.equal(a[0, 0], a[0, 1])


def test_video_frames_spread_over_the_whole_video_and_short_videos_repeat_frames():
    assert frame_indices(80) == [0, 11, 22, 33, 45, 56, 67, 79]
    assert frame_indices(3) == [0, 0, 0, 0, 1, 1, 1, 2]
    with pytest.raises(BadInput, match="no frames"):
        frame_indices(0)
    x = LBVideoTransform()(MEDIA / "testsrc_320x240_30fps_3s.mp4")
    assert x.shape == (1, 3, 8, 224, 224)
    assert torch.equal(x, LBVideoTransform()(MEDIA / "testsrc_320x240_30fps_3s.mp4"))


def test_video_frames_scale_and_crop_like_pytorchvideo():
    frames = np.zeros((8, 240, 320, 3), dtype=np.uint8)
    frames[:, :, 160:] = 255  # right half white
    x = LBVideoTransform().from_frames(frames)
    assert x.shape == (1, 3, 8, 224, 224)
    # 240x320 -> 224x298, centre crop from column 37: the white edge lands at 149 - 37 = 112
    white = (1 - 0.48145466) / 0.26862954
    assert torch.allclose(x[0, 0, :, :, 113:], torch.tensor(white), atol=1e-5)
    assert torch.allclose(x[0, 0, :, :, :111], torch.tensor(-0.48145466 / 0.26862954), atol=1e-5)


def test_text_ids_match_the_reference_tokenizer():
    golden = json.loads((GOLDEN / "tokenizer.json").read_text())
    t = TextTransform(LB_TEXT)
    ids = torch.cat([t(text) for text in golden["texts"]])
    assert torch.equal(ids, torch.tensor(golden["input_ids"]))
    assert torch.equal(ids[:5], outputs("image")["input_ids"])
