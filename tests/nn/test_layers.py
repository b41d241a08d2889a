"""Patch embeddings, positional embeddings, drop path, transformer trunk and small heads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from openbind.nn.drop_path import DropPath
from openbind.nn.heads import LogitScale, SelectToken
from openbind.nn.patch_embed import (
    PadIm2Video,
    UnfoldPatchEmbed,
    conv_grid,
    conv_patch_embed,
    video_patch_embed,
)
from openbind.nn.pos_embed import LearnedPosEmbed, prepend_tokens, resize_pos_embed
from openbind.nn.transformer import Transformer, progressive_rates

FACTS = Path(__file__).parents[1] / "golden" / "imagebind" / "imagebind_huge_facts.json"


def test_pad_im2video_repeats_images_and_keeps_clips() -> None:
    img = torch.randn(2, 3, 8, 8)
    video = PadIm2Video(2)(img)
    assert video.shape == (2, 3, 2, 8, 8)
    torch.testing.assert_close(video[:, :, 0], img, rtol=0, atol=0)
    torch.testing.assert_close(video[:, :, 1], img, rtol=0, atol=0)
    clip = torch.randn(2, 3, 2, 8, 8)
    assert PadIm2Video(2)(clip) is clip


def test_image_through_conv3d_equals_conv2d_with_summed_kernel() -> None:
    torch.manual_seed(0)
    embed = video_patch_embed(3, 32, (2, 14, 14), frames=2)
    img = torch.randn(2, 3, 56, 56)
    w3 = embed.proj[1].weight  # (D, 3, 2, 14, 14)
    with torch.no_grad():
        tokens = embed(img)  # (B, 16, D)
        flat = F.conv2d(img, w3.sum(dim=2), stride=14).flatten(2).transpose(1, 2)
    assert tokens.shape == (2, 16, 32)
    torch.testing.assert_close(tokens, flat, atol=1e-5, rtol=1e-5)


def test_conv_grid_of_imagebind_stems() -> None:
    assert conv_grid((128, 204), (16, 16), (10, 10)) == (12, 19)  # audio: 228 patches
    assert conv_grid((224, 224), (16, 16), (16, 16)) == (14, 14)  # depth / thermal
    assert conv_grid((2, 224, 224), (2, 14, 14), (2, 14, 14)) == (1, 16, 16)  # vision


def test_conv_patch_embed_normalises_tokens_with_given_eps() -> None:
    embed = conv_patch_embed(1, 24, 16, 10, norm_eps=1e-5)
    assert embed.norm_layer.eps == 1e-5
    out = embed(torch.randn(2, 1, 128, 204))
    assert out.shape == (2, 228, 24)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 228), atol=1e-5, rtol=0)


def test_unfold_patch_embed_token_layout() -> None:
    embed = UnfoldPatchEmbed(channels=6, kernel=8, dim=48)
    with torch.no_grad():
        embed.proj.weight.copy_(torch.eye(48))  # tokens show the raw windows
    x = torch.arange(2 * 6 * 40, dtype=torch.float32).reshape(2, 6, 40)
    tokens = embed(x)  # (B, 5, 48)
    assert tokens.shape == (2, 5, 48)
    t = 3
    expected = torch.cat([x[1, c, 8 * t : 8 * t + 8] for c in range(6)])
    torch.testing.assert_close(tokens[1, t], expected, rtol=0, atol=0)


def test_resize_pos_embed_keeps_prefix_and_constant_grids() -> None:
    table = torch.cat([torch.full((1, 1, 4), 7.0), torch.full((1, 16, 4), 0.5)], dim=1)
    out = resize_pos_embed(table, 1 + 25)
    assert out.shape == (1, 26, 4)
    torch.testing.assert_close(out[:, :1], table[:, :1], rtol=0, atol=0)
    torch.testing.assert_close(out[:, 1:], torch.full((1, 25, 4), 0.5), atol=1e-6, rtol=0)
    assert resize_pos_embed(table, 17) is table


def test_resize_pos_embed_interpolates_smoothly() -> None:
    # A linear ramp over the grid stays (almost) a ramp after bicubic resizing.
    side = 4
    ramp = torch.arange(side, dtype=torch.float32).repeat(side, 1)  # (n, n): value = column
    table = torch.cat([torch.zeros(1, 1, 1), ramp.reshape(1, side * side, 1)], dim=1)
    out = resize_pos_embed(table, 1 + 64)[0, 1:, 0].reshape(8, 8)
    assert torch.all(out[:, 1:] >= out[:, :-1])  # monotone along columns
    torch.testing.assert_close(out[:, 0], out[0, 0].expand(8))  # constant along rows


def test_resize_pos_embed_rejects_non_square() -> None:
    with pytest.raises(ValueError, match="square"):
        resize_pos_embed(torch.zeros(1, 1 + 16, 4), 1 + 20)


def test_learned_pos_embed_and_prepend() -> None:
    pos = LearnedPosEmbed(1 + 4, 3)
    with torch.no_grad():
        pos.pos_embed.copy_(torch.arange(15.0).reshape(1, 5, 3))
    cls = torch.ones(1, 1, 3)
    tokens = prepend_tokens(torch.zeros(2, 4, 3), cls)  # (B, 5, D)
    assert tokens.shape == (2, 5, 3)
    torch.testing.assert_close(pos(tokens)[1, 0], torch.tensor([1.0, 2.0, 3.0]))


def test_drop_path_is_identity_in_eval_and_drops_whole_samples_in_training() -> None:
    x = torch.ones(64, 5, 3)
    dp = DropPath(0.5)
    assert dp.eval()(x) is x
    torch.manual_seed(0)
    y = dp.train()(x)
    per_sample = y.flatten(1)
    kept = per_sample[:, 0] > 0
    torch.testing.assert_close(per_sample[kept], torch.full_like(per_sample[kept], 2.0))
    torch.testing.assert_close(per_sample[~kept], torch.zeros_like(per_sample[~kept]))
    assert 10 < int(kept.sum()) < 54


def test_progressive_rates_match_imagebind_huge() -> None:
    facts = json.loads(FACTS.read_text())["drop_path_per_block"]
    assert progressive_rates(0.1, 12) == facts["audio"]
    assert progressive_rates(0.7, 6) == facts["imu"]
    assert progressive_rates(0.0, 32) == facts["vision"]


def test_transformer_keys_and_pre_norm() -> None:
    trunk = Transformer(16, 2, 2, pre_norm=True, drop_path=0.2)
    keys = list(trunk.state_dict())
    assert keys[:2] == ["pre_transformer_layer.0.weight", "pre_transformer_layer.0.bias"]
    assert "blocks.1.mlp.fc2.bias" in keys
    assert [b.drop_path.p for b in trunk.blocks] == pytest.approx([0.0, 0.2])
    plain = Transformer(16, 2, 2)
    assert not any(k.startswith("pre_transformer_layer") for k in plain.state_dict())
    assert plain(torch.randn(3, 7, 16)).shape == (3, 7, 16)


def test_select_token_and_logit_scale() -> None:
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(SelectToken(0)(x), x[:, 0])
    text = LogitScale(1 / 0.07, learnable=True)
    assert isinstance(text.log_logit_scale, torch.nn.Parameter)
    assert float(text.scale.detach()) == pytest.approx(1 / 0.07, rel=1e-6)
    with torch.no_grad():
        text.log_logit_scale.fill_(math.log(1000.0))
    assert float(text.scale.detach()) == pytest.approx(100.0)  # clipped
    audio = LogitScale(
        20.0, learnable=False
    )  # one class for heads and losses: learnable by default
    assert "log_logit_scale" in dict(audio.named_buffers())
    torch.testing.assert_close(audio(torch.ones(2)), torch.full((2,), 20.0))
