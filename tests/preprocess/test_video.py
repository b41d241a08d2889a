"""Video preprocessing: parity with the ImageBind reference output, crops, config, passthrough."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openbind.config import from_dict, to_dict
from openbind.errors import BadInput, ConfigError
from openbind.io.video import load_video_clips
from openbind.preprocess.common import CLIP_MEAN, CLIP_STD
from openbind.preprocess.video import (
    VideoConfig,
    VideoTransform,
    crop_offsets,
    preprocess_clips,
    short_side_scale,
    spatial_crops,
)
from tests.io.synth_video import make_video

GOLDEN = Path(__file__).parents[1] / "golden"
TESTSRC = GOLDEN / "media" / "testsrc_320x240_30fps_3s.mp4"


def test_reference_parity_on_golden_video() -> None:
    """The golden file keeps 50,000 fixed random elements and per-clip sums of the reference
    (15, 3, 2, 224, 224) output (the full tensor is 27 MB). torch 2.13's bilinear interpolate
    differs from the reference's torch 2.9.1 by up to ~6e-5."""
    golden = np.load(GOLDEN / "preproc" / "video_out_subset.npz")
    x = VideoTransform()(TESTSRC)
    assert torch.equal(VideoTransform(VideoConfig.parity())(TESTSRC), x)
    assert tuple(x.shape) == tuple(golden["shape"]) == (15, 3, 2, 224, 224)
    assert x.dtype == torch.float32
    flat = x.numpy().reshape(-1)
    np.testing.assert_allclose(flat[golden["flat_index"]], golden["values"], rtol=0, atol=1e-4)
    per_clip = x.double().reshape(15, -1)
    np.testing.assert_allclose(per_clip.sum(1).numpy(), golden["crop_sums"], rtol=1e-6, atol=0.5)
    np.testing.assert_allclose(
        per_clip.abs().sum(1).numpy(), golden["crop_abs_sums"], rtol=1e-6, atol=0.5
    )


def test_batched_pipeline_equals_per_clip_reference_steps() -> None:
    """Scale/normalise/crop of all clips == the reference's per-clip loop, bit for bit.

    With one thread, at 240x320 -> 224x298, the CPU bilinear kernel rounds differently when
    frames are resized one by one as (1, 3, H, W) instead of as (3, T, H, W) clips (~2e-7), so
    the size and the thread count matter here.
    """
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, 2, 240, 320, 3), dtype=np.uint8)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batched = preprocess_clips(frames, VideoConfig())
    finally:
        torch.set_num_threads(threads)
    mean = torch.tensor(CLIP_MEAN)[:, None, None, None]
    std = torch.tensor(CLIP_STD)[:, None, None, None]
    expected = []
    for clip in frames:
        c = torch.from_numpy(clip).permute(3, 0, 1, 2).float() / 255.0  # (C, T, H, W)
        c = F.interpolate(c, size=(224, 298), mode="bilinear", align_corners=False)
        c = (c - mean) / std
        expected += [c[..., :, x : x + 224] for x in (0, 37, 74)]
    assert torch.equal(batched, torch.stack(expected))


def test_frames_over_two_megapixels_are_scaled_as_decoded_with_the_same_numbers() -> None:
    """Large frames go through `scale_frame` as soon as they are decoded (no full-size RGB
    frames pile up); the clips equal those of decoding all frames first, bit for bit."""
    video = make_video(n=4, fps=4, size=(1920, 1088), gop=2)  # over _PLANE_PIXELS (1920x1080)
    config = VideoConfig(clip_duration=0.5, clips_per_video=2)
    full = load_video_clips(video, clip_duration=0.5, clips_per_video=2).frames
    assert full.dtype == np.uint8 and full.shape == (2, 2, 1088, 1920, 3)
    transform = VideoTransform(config)
    shrunk = load_video_clips(
        video, clip_duration=0.5, clips_per_video=2, frame_fn=transform._shrink
    ).frames
    assert shrunk.dtype == np.float32 and shrunk.shape == (2, 2, 3, 224, 395)
    x = transform(video)
    assert x.shape == (6, 3, 2, 224, 224)
    assert torch.equal(x, preprocess_clips(full, config))


def test_transform_is_thread_safe() -> None:
    items = [make_video(n=24, fps=12, gop=k, size=(64, 48)) for k in (1, 4, 12)]
    config = VideoConfig(size=48, crop_size=48)
    serial = [VideoTransform(config)(item) for item in items]
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(VideoTransform(config), items * 2))
    for i, x in enumerate(threaded):
        assert torch.equal(x, serial[i % 3])


def test_short_side_scale_floor_rule() -> None:
    assert short_side_scale(torch.zeros(1, 3, 2, 240, 320), 224).shape[-2:] == (224, 298)
    assert short_side_scale(torch.zeros(1, 3, 2, 320, 180), 224).shape[-2:] == (398, 224)
    assert short_side_scale(torch.zeros(1, 3, 2, 100, 100), 224).shape[-2:] == (224, 224)


def test_crop_offsets_landscape_portrait_square() -> None:
    assert crop_offsets(224, 298, 224, 3) == [(0, 0), (0, 37), (0, 74)]
    assert crop_offsets(224, 299, 224, 3) == [(0, 0), (0, 38), (0, 75)]  # ceil
    assert crop_offsets(398, 224, 224, 3) == [(0, 0), (87, 0), (174, 0)]
    assert crop_offsets(224, 224, 224, 3) == [(0, 0)] * 3
    assert crop_offsets(224, 298, 224, 1) == [(0, 37)]


def test_spatial_crops_are_clip_major() -> None:
    x = torch.arange(2 * 1 * 1 * 4 * 6, dtype=torch.float32).reshape(2, 1, 1, 4, 6)
    out = spatial_crops(x, 4, 3)
    assert out.shape == (6, 1, 1, 4, 4)
    assert torch.equal(out[1], x[0, ..., 1:5]) and torch.equal(out[5], x[1, ..., 2:6])


def test_transform_on_synthetic_portrait_video_and_one_crop() -> None:
    data = make_video(n=30, fps=10, size=(48, 80))
    x = VideoTransform(VideoConfig(size=64, crop_size=64))(data)
    assert x.shape == (15, 3, 2, 64, 64)
    one = VideoTransform(VideoConfig(size=64, crop_size=64, spatial_crops=1))(data)
    assert one.shape == (5, 3, 2, 64, 64)
    assert torch.equal(one, x[1::3])  # the centre crop of each clip


def test_config_json_round_trip_and_validation() -> None:
    config = VideoConfig(clips_per_video=3, frame_timing="pts", apply_rotation=False)
    assert from_dict(VideoConfig, json.loads(json.dumps(to_dict(config)))) == config
    assert VideoConfig().num_clips == 15 and VideoConfig().clip_shape == (3, 2, 224, 224)
    with pytest.raises(ConfigError, match="spatial_crops"):
        VideoConfig(spatial_crops=2)
    with pytest.raises(ConfigError, match="frame_timing"):
        VideoConfig(frame_timing="exact")
    with pytest.raises(ConfigError, match="crop_size"):
        VideoConfig(size=200, crop_size=224)


def test_tensor_passthrough() -> None:
    t = VideoTransform()
    assert t(torch.zeros(3, 2, 224, 224)).shape == (1, 3, 2, 224, 224)
    assert t(torch.zeros(15, 3, 2, 224, 224)).shape == (15, 3, 2, 224, 224)
    with pytest.raises(BadInput, match=r"got \(15, 3, 224, 224\)"):
        t(torch.zeros(15, 3, 224, 224))
