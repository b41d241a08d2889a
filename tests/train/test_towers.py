import json

import pytest
import torch

from openbind.encoders.small import build_tower, load_tower, save_tower
from openbind.errors import WeightsError
from openbind.train.config import TowerConfig
from openbind.train.towers import CachedTower


@pytest.mark.parametrize(
    ("kind", "x"),
    [
        ("mel_audio", torch.randn(3, 1, 64, 100)),
        ("wave_audio", torch.randn(3, 8000)),
        ("conv_image", torch.randn(3, 3, 32, 32)),
        ("token_text", torch.randint(1, 49000, (3, 12))),
        ("clip_vit", torch.randn(3, 3, 64, 64)),
    ],
)
def test_every_kind_maps_inputs_to_the_space(kind, x):
    tower = build_tower(
        {"mel_audio": "audio", "wave_audio": "audio", "clip_vit": "image"}.get(
            kind, kind.split("_")[1]
        ),
        TowerConfig(kind=kind, widths=(8, 16)),
        24,
    )
    assert tower(x).shape == (3, 24)


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match="valid: mel_audio, wave_audio, conv_image, token_text, clip_vit"
    ):
        build_tower("audio", TowerConfig(kind="lstm"), 8)


def test_saved_tower_loads_through_its_sidecar_builder(tmp_path):
    import importlib

    from safetensors.torch import load_file

    cfg = TowerConfig(kind="mel_audio", widths=(8, 16), mel_bins=64, frames=100, seconds=1.0)
    tower = build_tower("audio", cfg, 32)
    save_tower(tower, cfg, tmp_path / "starter_audio", logit_scale=12.5)
    spec = json.loads((tmp_path / "starter_audio.json").read_text())
    module, func = spec["builder"].split(":")
    loaded, transform = getattr(importlib.import_module(module), func)(
        load_file(tmp_path / "starter_audio.safetensors"), **spec["options"]
    )
    x = torch.randn(2, 1, 64, 100)
    torch.testing.assert_close(loaded(x), tower.eval()(x))
    assert loaded.logit_scale == 12.5
    wave = (torch.randn(16000 * 3).numpy() * 0.1, 16000)  # 3 s: a clip every second
    assert transform(wave).shape == (3, 1, 64, 100)


def test_weights_that_do_not_fit_are_a_weights_error(tmp_path):
    cfg = TowerConfig(kind="conv_image", widths=(8, 16))
    save_tower(build_tower("image", cfg, 32), cfg, tmp_path / "t")
    spec = json.loads((tmp_path / "t.json").read_text())
    spec["options"]["tower"]["widths"] = [8, 32]
    from safetensors.torch import load_file

    with pytest.raises(WeightsError, match="do not fit"):
        load_tower(load_file(tmp_path / "t.safetensors"), **spec["options"])


def test_cached_tower_is_exact_and_ignores_padding():
    torch.manual_seed(0)
    inner = build_tower("text", TowerConfig(kind="token_text", widths=(16,)), 8).eval()
    calls = []
    inner.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    cached = CachedTower(inner)
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    first = cached(ids)
    again = cached(torch.tensor([[8, 9, 0, 0, 0, 0], [5, 6, 7, 0, 0, 0], [1, 2, 0, 0, 0, 0]]))
    torch.testing.assert_close(again[:2], first.flip(0))
    assert calls == [2, 1]  # the second call ran only the one new row
    torch.testing.assert_close(again[:2], inner(torch.tensor([[8, 9, 0], [5, 6, 7]])))
