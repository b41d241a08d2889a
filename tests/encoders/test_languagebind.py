"""LanguageBind towers against transformers' CLIP modules, and their structural variants."""

from __future__ import annotations

import pytest
import torch

from openbind.encoders.languagebind import (
    ClipTextTower,
    ClipVisionTower,
    LanguageBindConfig,
    TextSpec,
    VisionSpec,
)
from openbind.errors import ConfigError
from openbind.keymap import apply as apply_key_map
from openbind.nn.pos_embed import resize_pos_grid
from openbind.zoo.hf_clip_keys import TEXT_KEYS, VISION_KEYS
from tests.zoo.languagebind_golden import outputs

transformers = pytest.importorskip("transformers")

SMALL = {
    "hidden_size": 48,
    "intermediate_size": 192,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}


def _from_hf(model: torch.nn.Module, tower: torch.nn.Module, key_map) -> None:
    state = dict(model.state_dict())
    if key_map is VISION_KEYS:
        state["logit_scale"] = torch.tensor(2.5)
    mapped = apply_key_map(key_map, state, source="transformers")  # raises for unmapped keys
    tower.load_state_dict(mapped, strict=True)


def test_plain_clip_vision_tower_equals_transformers_clip_vision_model():
    torch.manual_seed(0)
    cfg = transformers.CLIPVisionConfig(image_size=224, patch_size=14, projection_dim=24, **SMALL)
    hf = transformers.CLIPVisionModelWithProjection(cfg).eval()
    spec = VisionSpec(width=48, layers=2, heads=4, mlp=192, patch=14)
    tower = ClipVisionTower(spec, 24, "image").eval()
    _from_hf(hf, tower, VISION_KEYS)
    x = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        out = hf(pixel_values=x)
        torch.testing.assert_close(tower.hidden(x), out.last_hidden_state, atol=1e-5, rtol=0)
        torch.testing.assert_close(tower(x), out.image_embeds, atol=1e-5, rtol=0)


def test_text_tower_equals_transformers_clip_text_model():
    torch.manual_seed(0)
    cfg = transformers.CLIPTextConfig(
        vocab_size=49408,
        hidden_size=32,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        projection_dim=24,
        hidden_act="gelu",
        eos_token_id=49407,
    )
    hf = transformers.CLIPTextModelWithProjection(cfg).eval()
    tower = ClipTextTower(TextSpec(width=32, layers=2, heads=2, mlp=128), 24).eval()
    _from_hf(hf, tower, TEXT_KEYS)
    ids = outputs("image")["input_ids"]
    with torch.no_grad():
        out = hf(input_ids=ids, attention_mask=(ids != 49407).cumsum(-1).ge(0).long())
        torch.testing.assert_close(tower(ids), out.text_embeds, atol=1e-5, rtol=0)


def test_v15_conv3d_patches_equal_per_frame_conv2d_with_a_class_token_per_frame():
    torch.manual_seed(0)
    base = VisionSpec(width=48, layers=1, heads=4, mlp=192, patch=14, frames=8, temporal=True)
    plain = ClipVisionTower(base, 24, "video").eval()
    tube = ClipVisionTower(VisionSpec(**{**base.__dict__, "tube": True}), 24, "video").eval()
    state = plain.state_dict()
    state["patch_embed.weight"] = state["patch_embed.weight"][:, :, None]  # (D, 3, 1, 14, 14)
    state["cls_token"] = state["cls_token"][None].repeat(8, 1)  # (T, D)
    tube.load_state_dict(state)
    x = torch.randn(2, 3, 8, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(tube.hidden(x), plain.hidden(x), atol=1e-5, rtol=0)
        torch.testing.assert_close(tube(x), plain(x), atol=1e-5, rtol=0)


def test_temporal_attention_makes_frame_order_matter():
    torch.manual_seed(0)
    spec = VisionSpec(width=48, layers=2, heads=4, mlp=192, patch=14, frames=8, temporal=True)
    tower = ClipVisionTower(spec, 24, "video").eval()
    x = torch.randn(1, 3, 8, 224, 224)
    with torch.no_grad():
        assert not torch.allclose(tower(x), tower(x.flip(2)), atol=1e-4)


def test_audio_position_table_resize_matches_the_reference():
    io = outputs("audio")
    out = resize_pos_grid(io["pos_resize.pos_embed_in"], (16, 16), (8, 74))
    torch.testing.assert_close(out, io["pos_resize.pos_embed_out"], atol=1e-6, rtol=0)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"c\.json: model_type 'clip' is not a LanguageBind"):
        LanguageBindConfig.from_hf({"model_type": "clip"}, "c.json")
    with pytest.raises(ConfigError, match="missing the 'vision_config' section"):
        LanguageBindConfig.from_hf({"model_type": "LanguageBindAudio", "text_config": {}}, "c")
    with pytest.raises(ConfigError, match="target_length must be a non-negative integer"):
        LanguageBindConfig.from_hf(
            {"model_type": "LanguageBindAudio", "text_config": {}, "vision_config": {}}, "c"
        )
    with pytest.raises(ConfigError, match="hidden_act 'quick_gelu' is not supported"):
        LanguageBindConfig.from_hf(
            {
                "model_type": "LanguageBindImage",
                "text_config": {"hidden_act": "quick_gelu"},
                "vision_config": {},
            },
            "c",
        )


def test_wrong_input_shape_is_named():
    tower = ClipVisionTower(VisionSpec(width=48, layers=1, heads=4, mlp=192, patch=14), 24, "image")
    with pytest.raises(ValueError, match=r"image tower input must be \(N, 3, 224, 224\)"):
        tower(torch.zeros(1, 3, 112, 112))


def test_text_shortcuts_give_the_full_computation_at_the_end_token():
    """Cut after the longest text, packed, end-of-text rows only: equal to the masked full pass."""
    torch.manual_seed(0)
    tower = ClipTextTower(TextSpec(vocab_size=100, width=32, layers=2, heads=2, mlp=128), 16).eval()
    ids = torch.full((6, 77), 99)  # 99 = end of text, also the padding
    for row, n in enumerate((1, 3, 5, 9, 2, 12)):  # the longest is 14 tokens: 63 columns cut
        ids[row, 1 : 1 + n] = torch.randint(1, 98, (n,))
    ids[:, 0] = 98
    with torch.no_grad():
        full = tower.hidden(ids)[torch.arange(6), ids.argmax(-1)]
        torch.testing.assert_close(tower.pooled(ids), full, atol=1e-5, rtol=0)
        torch.testing.assert_close(tower(ids), tower.proj(full), atol=1e-5, rtol=0)
