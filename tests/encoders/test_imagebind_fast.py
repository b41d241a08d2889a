"""The fast tower path (trimmed, packed text; last block on the read token only) equals the
plain path and the golden reference outputs."""

from __future__ import annotations

import pytest
import torch

from openbind.encoders.imagebind import ImageBindModel
from openbind.types import Modality
from tests.encoders.imagebind_golden import CASES, load_io, load_small_model

ATOL = 1e-5
MODALITY = {
    "vision_image": Modality.IMAGE,
    "vision_video": Modality.VIDEO,
    "text": Modality.TEXT,
    "audio": Modality.AUDIO,
    "depth": Modality.DEPTH,
    "thermal": Modality.THERMAL,
    "imu": Modality.IMU,
}


@pytest.fixture(scope="module")
def model() -> ImageBindModel:
    return load_small_model()


@pytest.fixture(scope="module")
def io() -> dict:
    return load_io()


@pytest.mark.parametrize("case", CASES)
def test_fast_tower_matches_golden_head_outputs(model: ImageBindModel, io: dict, case: str) -> None:
    tower = model.towers([MODALITY[case]])[MODALITY[case]].eval()
    x = io["inputs"][case]
    x = x.flatten(0, 1) if x.ndim >= 5 else x
    assert tower.fast
    with torch.no_grad():
        out = tower(x)
    torch.testing.assert_close(out, io["intermediates"][case]["head_out"], atol=ATOL, rtol=0)


def test_short_texts_are_trimmed_and_packed_exactly(model: ImageBindModel) -> None:
    tower = model.towers([Modality.TEXT])[Modality.TEXT].eval()
    torch.manual_seed(0)
    ids = torch.zeros(5, 77, dtype=torch.long)
    for row, n in enumerate([2, 9, 4, 30, 3]):
        ids[row, : n - 1] = torch.randint(1, 49406, (n - 1,))
        ids[row, n - 1] = 49407  # end of text
    with torch.no_grad():
        fast = tower(ids)
        tower.fast = False
        plain = tower(ids)
    torch.testing.assert_close(fast, plain, atol=ATOL, rtol=0)


def test_training_mode_runs_the_plain_path(model: ImageBindModel) -> None:
    import openbind.encoders.imagebind.model as module

    tower = model.towers([Modality.AUDIO])[Modality.AUDIO]
    calls = []
    real = module.run_tower_fast
    module.run_tower_fast = lambda *a: calls.append(1) or real(*a)
    try:
        with torch.no_grad():
            tower.trunk.train()
            tower(torch.zeros(1, 1, 128, 204))
            tower.trunk.eval()
            tower(torch.zeros(1, 1, 128, 204))
    finally:
        module.run_tower_fast = real
        model.eval()
    assert calls == [1]


def test_clips_beyond_the_token_budget_run_in_several_passes(model: ImageBindModel, io) -> None:
    tower = model.towers([Modality.VIDEO])[Modality.VIDEO].eval()
    clips = io["inputs"]["vision_video"].flatten(0, 1)  # (2 videos x S clips, 3, 2, H, W)
    with torch.no_grad():
        whole = tower(clips)
        tower.max_tokens_per_pass = 257 * 3  # 3 clips of 257 tokens per pass
        calls = []
        handle = tower.trunk.register_forward_hook(lambda *a: calls.append(a[1][0].shape[0]))
        parts = tower(clips)
        handle.remove()
    assert calls == [3] * (len(clips) // 3) + ([len(clips) % 3] if len(clips) % 3 else [])
    torch.testing.assert_close(parts, whole, atol=ATOL, rtol=0)
