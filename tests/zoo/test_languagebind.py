"""LanguageBind through `openbind.load`: cards, Hugging Face folders offline, the assembled space."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import openbind
from openbind import registry
from openbind.errors import CheckpointMismatch, ConfigError, MissingWeights, SpaceMismatch
from openbind.types import Modality
from openbind.zoo.languagebind_cards import CHECKPOINTS
from tests.zoo.languagebind_golden import outputs, pixel_values, write_folder

HUB_NAMES = {"image": "LanguageBind_Image", "audio": "LanguageBind_Audio_FT",
             "depth": "LanguageBind_Depth", "thermal": "LanguageBind_Thermal",
             "video": "LanguageBind_Video_FT"}  # fmt: skip


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory):
    """Golden tiny checkpoints under the published folder names."""
    root = tmp_path_factory.mktemp("LanguageBind")
    for modality, hub_name in HUB_NAMES.items():
        folder = write_folder(modality, root)
        folder.rename(root / hub_name)
    return root


def test_every_published_checkpoint_has_a_card():
    cards = {e.name: e for e in registry.list_models("languagebind*")}
    assert len(CHECKPOINTS) == 9
    for name, repo, modality, *_ in CHECKPOINTS:
        card = cards[f"{name}.hf"]
        assert card.modalities == ("text", modality)
        assert card.weights[0].url.startswith(f"https://huggingface.co/LanguageBind/{repo}/")
        assert set(card.preprocess) == {"text", modality}
    card = registry.get("languagebind_video_ft")
    assert card.preprocess["video"].transform.endswith("languagebind:LBVideoTransform")
    assert card.weights[1].url == (
        "https://huggingface.co/LanguageBind/LanguageBind_Video_FT/resolve/main/pytorch_model.bin"
    )
    assert card.license == "MIT"
    assert card.weights[1].approx_size > 1e9
    assert card.describe_source().endswith("(revision main, pinned on first download)")
    assert registry.get("languagebind").name == "languagebind_large.v1"
    assert {f.filename for f in registry.get("languagebind").weights} >= {
        "LanguageBind_Audio_FT/config.json",
        "LanguageBind_Audio_FT/pytorch_model.bin",
    }
    assert registry.get("languagebind_video_huge_v15_ft").dim == 1024


def test_offline_without_cache_names_the_card_and_the_weights_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path))
    monkeypatch.setenv("OPENBIND_OFFLINE", "1")
    with pytest.raises(MissingWeights, match=r"(?s)languagebind_audio_ft\.hf.*--weights PATH"):
        openbind.load("languagebind_audio_ft")


def test_load_a_hugging_face_folder_offline_and_features_accept_ready_tensors(hub_root):
    space = openbind.load("languagebind_audio_ft", weights=hub_root / "LanguageBind_Audio_FT")
    assert isinstance(space, openbind.Space)
    assert space.modalities == (Modality.TEXT, Modality.AUDIO)
    io = outputs("audio")
    feats = space.features({"audio": list(pixel_values()["audio"]), "text": list(io["input_ids"])})
    torch.testing.assert_close(
        feats[Modality.AUDIO], io["outputs.image_features"], atol=1e-5, rtol=0
    )
    torch.testing.assert_close(feats[Modality.TEXT], io["outputs.text_features"], atol=1e-5, rtol=0)
    assert space.logit_scale("audio") == pytest.approx(float(io["outputs.logit_scale_exp"]))
    emb = space.encode("text", ["a dog barking", "Rain on a tin roof at night."])
    torch.testing.assert_close(emb.vectors, io["outputs.text_embeds"][[0, 2]], atol=1e-5, rtol=0)


def test_a_folder_of_another_modality_is_refused(hub_root):
    with pytest.raises(ConfigError, match="is a LanguageBind depth checkpoint"):
        openbind.load("languagebind_audio_ft", weights=hub_root / "LanguageBind_Depth")


def test_assembled_space_shares_one_text_tower(hub_root):
    space = openbind.load("languagebind", modalities=["text", "audio", "depth"], weights=hub_root)
    assert set(space.modalities) == {Modality.TEXT, Modality.AUDIO, Modality.DEPTH}
    assert space.dim == 24  # the checkpoints' size, not the card's published 768
    px = pixel_values()
    feats = space.features({"audio": list(px["audio"]), "depth": list(px["depth"])})
    for m in ("audio", "depth"):
        io = outputs(m)
        torch.testing.assert_close(
            feats[Modality(m)], io["outputs.image_features"], atol=1e-5, rtol=0
        )
        assert space.logit_scale(m) == pytest.approx(float(io["outputs.logit_scale_exp"]))
    text = space.features("text", list(outputs("image")["input_ids"]))
    torch.testing.assert_close(text, outputs("image")["outputs.text_features"], atol=1e-5, rtol=0)


def test_assembled_space_refuses_different_text_towers_naming_the_tensors(hub_root, tmp_path):
    root = tmp_path / "LanguageBind"
    shutil.copytree(hub_root, root)
    path = root / "LanguageBind_Depth" / "model.safetensors"
    state = load_file(path)
    state["text_model.final_layer_norm.bias"] += 1e-3
    save_file(state, path)
    with pytest.raises(
        SpaceMismatch,
        match=r"text towers of LanguageBind_Audio_FT and LanguageBind_Depth differ.*"
        r"text_model\.final_layer_norm\.bias",
    ):
        openbind.load("languagebind", modalities=["audio", "depth"], weights=root)


def test_a_missing_checkpoint_folder_is_named(hub_root, tmp_path):
    with pytest.raises(MissingWeights, match="LanguageBind_Audio_FT"):
        openbind.load("languagebind", modalities=["audio"], weights=tmp_path)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ("no_config", MissingWeights, "it has no config.json"),
        ("no_weights", MissingWeights, "has no weights: expected one of model.safetensors"),
        ("bad_type", ConfigError, "model_type 'CLIPModel' is not a LanguageBind model"),
        (
            "extra_key",
            CheckpointMismatch,
            "map to no openbind key: vision_model.extra",
        ),
        ("missing_key", CheckpointMismatch, r"missing.*trunk\.blocks\.1\.norm_2\.bias"),
        ("lora_config", CheckpointMismatch, "lora_r=2 but the weights have no LoRA adapters"),
    ],
)
def test_a_folder_that_is_not_a_languagebind_checkpoint_names_what_is_wrong(
    tmp_path, change, error, message
):
    drop = ("vision_model.encoder.layers.1.layer_norm2.bias",) if change == "missing_key" else ()
    folder = write_folder("image", tmp_path, drop=drop)
    config = json.loads((folder / "config.json").read_text())
    if change == "no_config":
        (folder / "config.json").unlink()
    elif change == "no_weights":
        (folder / "model.safetensors").unlink()
    elif change == "bad_type":
        config["model_type"] = "CLIPModel"
    elif change == "lora_config":
        del config["vision_config"]["lora_r"]  # the reference then defaults to 2
    elif change == "extra_key":
        state = load_file(folder / "model.safetensors")
        state["vision_model.extra"] = torch.zeros(1)
        save_file(state, folder / "model.safetensors")
    if change != "no_config":
        (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(error, match=message):
        openbind.load("languagebind_image", weights=folder)
