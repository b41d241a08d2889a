"""LanguageBind parity: openbind loads the golden checkpoints strictly and reproduces every stored
output of the original code within 1e-5."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from openbind.encoders.languagebind import ClipTextTower, ClipVisionTower
from openbind.nn.lora import lora_modules
from openbind.zoo.languagebind import load_checkpoint
from tests.zoo.languagebind_golden import IO_OF, TOWER_OF, outputs, pixel_values, write_folder

ATOL = 1e-5


@pytest.fixture(scope="module")
def pixels():
    return pixel_values()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    return {name: write_folder(name, root) for name in TOWER_OF}


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0)


def check_text(text: ClipTextTower, io: dict[str, torch.Tensor], group: str) -> torch.Tensor:
    ids = io["input_ids"]
    with torch.no_grad():
        pooled = text.pooled(ids)
        features = text(ids)
    close(pooled, io[f"{group}.text_pooled"])
    close(features, io[f"{group}.text_features"])
    close(F.normalize(features, dim=-1), io[f"{group}.text_embeds"])
    return F.normalize(features, dim=-1)


def check_vision(
    vision: ClipVisionTower, x: torch.Tensor, io: dict[str, torch.Tensor], group: str
) -> torch.Tensor:
    with torch.no_grad():
        hidden = vision.hidden(x)
        pooled = vision.pooled(x)
        features = vision(x)
    if f"{group}.vision_last_hidden_state" in io:
        tokens = io[f"{group}.vision_last_hidden_state_tokens"]
        close(hidden[:, tokens], io[f"{group}.vision_last_hidden_state"])
    close(pooled, io[f"{group}.vision_pooled"])
    close(features, io[f"{group}.image_features"])
    embeds = F.normalize(features, dim=-1)
    close(embeds, io[f"{group}.image_embeds"])
    scale = torch.tensor(vision.logit_scale)
    close(vision.log_logit_scale.detach(), io[f"{group}.logit_scale"])
    close(scale, io[f"{group}.logit_scale_exp"])
    # the reference wrapper's use_temp=True output: embeddings times exp(logit_scale) (up to 100),
    # compared on the unit scale
    close(embeds, io[f"{group}.wrapper_use_temp_modality_embeds"] / scale)
    return embeds


CASES = [(name, True) for name in TOWER_OF] + [("video_lora", False), ("audio_lora", False)]


@pytest.mark.parametrize(
    ("name", "merge"), CASES, ids=[f"{n}-{'merged' if m else 'kept'}" for n, m in CASES]
)
def test_checkpoint_reproduces_the_reference_outputs(name, merge, folders, pixels):
    tower = TOWER_OF[name]
    group = "lora_outputs" if name.endswith("_lora") else "outputs"
    ckpt = load_checkpoint(folders[name], merge_lora=merge)
    assert ckpt.config.modality == tower
    assert ckpt.config.vision.tube == (name == "video_v15")  # V1.5: Conv3d, a cls per frame
    assert bool(lora_modules(ckpt.vision)) == (not merge)
    io = outputs(IO_OF[name])
    text = check_text(ckpt.text, io, group)
    image = check_vision(ckpt.vision, pixels[tower], io, group)
    scale = ckpt.vision.logit_scale
    # logits are cosines times up to 100: compared on the cosine scale (1e-5 there)
    close(text @ image.T, io[f"{group}.logits_per_text"] / scale)
    close(image @ text.T, io[f"{group}.logits_per_image"] / scale)


def test_text_hidden_states_match_beyond_the_end_token(folders):
    """The padding mask matters after the end-of-text token (the pooled output does not see it)."""
    text = load_checkpoint(folders["image"], vision=False).text
    io = outputs("image")
    with torch.no_grad():
        close(text.hidden(io["input_ids"]), io["outputs.text_last_hidden_state"])


def test_image_tower_layer_by_layer(folders, pixels):
    vision = load_checkpoint(folders["image"], text=False).vision
    io = outputs("image")
    tokens = io["outputs.vision_hidden_states.0_tokens"]
    with torch.no_grad():
        x = vision.trunk.pre_transformer_layer(vision.tokens(pixels["image"]))
        close(x[:, tokens], io["outputs.vision_hidden_states.0"])
        for i, block in enumerate(vision.trunk.blocks, start=1):
            x = block(x)
            close(x[:, tokens], io[f"outputs.vision_hidden_states.{i}"])
