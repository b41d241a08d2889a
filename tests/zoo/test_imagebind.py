"""Building ImageBind spaces: only the requested towers, strict and lazy weight loading."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from openbind import checkpoint, registry
from openbind.encoders.imagebind import ImageBindConfig, ImageBindModel
from openbind.errors import CheckpointMismatch, ConfigError, MissingWeights
from openbind.registry import ModelCard
from openbind.types import Modality
from openbind.zoo.imagebind import build, imagebind_key_prefixes, key_groups
from tests.encoders.imagebind_golden import STATE_DICT, load_io

SMALL = ModelCard(
    name="imagebind_small.golden",
    builder="openbind.zoo.imagebind:build",
    modalities=tuple(m.value for m in Modality),
    dim=64,
    arch="small",
)


@pytest.fixture(scope="module", autouse=True)
def _two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def io() -> dict:
    return load_io()


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def test_registered_official_entry() -> None:
    entry = registry.get("imagebind_huge")
    assert entry is registry.get("imagebind")
    assert entry.name == "imagebind_huge.official"
    assert entry.builder == "openbind.zoo.imagebind:build"
    assert entry.dim == 1024 and entry.license == "CC-BY-NC-4.0"
    assert set(entry.modalities) == {m.value for m in Modality}
    (wf,) = entry.weights
    assert wf.url == "https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth"
    assert wf.sha256 is None  # not published


def test_build_loads_only_requested_towers(io: dict) -> None:
    space = build(SMALL, modalities=(Modality.TEXT, Modality.IMAGE), weights=STATE_DICT)
    assert set(space.modalities) == {Modality.TEXT, Modality.IMAGE}
    names = {k.split(".")[1] for k, _ in space.named_parameters()}
    assert names == {"text", "image"}
    full = torch.load(STATE_DICT, weights_only=True)
    wanted = imagebind_key_prefixes("text") + imagebind_key_prefixes("image")
    n_params = sum(p.numel() for p in space.parameters())
    assert n_params == sum(v.numel() for k, v in full.items() if k.startswith(wanted)) - 77 * 77
    # End to end: the real tokenizer and the tower give the golden text embeddings' direction.
    emb = space.encode({"text": io["texts"], "image": list(io["inputs"]["vision_image"])})
    torch.testing.assert_close(emb["text"].vectors, _unit(io["outputs"]["text"]), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        emb["image"].vectors, _unit(io["outputs"]["vision_image"]), atol=1e-5, rtol=0
    )
    assert space.logit_scale("text") == pytest.approx(1 / 0.07, rel=1e-6)
    assert space.logit_scale("image") == 1.0


def test_per_tower_folder_reads_only_needed_files(tmp_path: Path, io: dict) -> None:
    folder = checkpoint.convert(
        STATE_DICT, tmp_path / "small", group_of=checkpoint.group_by_prefix(key_groups())
    )
    assert {p.name for p in folder.glob("*.safetensors")} == {
        f"{name}.safetensors" for name in key_groups()
    }
    (folder / "vision.safetensors").unlink()  # text must not need it
    space = build(SMALL, modalities=(Modality.TEXT,), weights=folder)
    emb = space.encode("text", io["texts"][:2])
    torch.testing.assert_close(emb.vectors, _unit(io["outputs"]["text"][:2]), atol=1e-5, rtol=0)


def test_mismatched_checkpoint_lists_every_problem(tmp_path: Path) -> None:
    state = torch.load(STATE_DICT, weights_only=True)
    del state["modality_heads.text.proj.1.weight"]
    state["modality_trunks.text.blocks.7.attn.in_proj_weight"] = torch.zeros(3)
    state["modality_preprocessors.text.pos_embed"] = torch.zeros(1, 76, 64)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(CheckpointMismatch) as err:
        build(SMALL, modalities=(Modality.TEXT,), weights=bad)
    message = str(err.value)
    assert "modality_heads.text.proj.1.weight" in message
    assert "modality_trunks.text.blocks.7.attn.in_proj_weight" in message
    assert "modality_preprocessors.text.pos_embed" in message and "(1, 76, 64)" in message
    # The broken text keys do not matter for a tower that does not use them.
    space = build(SMALL, modalities=(Modality.IMAGE,), weights=bad)
    assert space.modalities == (Modality.IMAGE,)


def test_build_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingWeights):
        build(SMALL, modalities=(Modality.TEXT,), weights=tmp_path / "absent.pth")
    other = dataclasses.replace(SMALL, arch="giant")
    with pytest.raises(ConfigError, match="giant"):
        build(other, modalities=(Modality.TEXT,), weights=STATE_DICT)


def test_every_modality_is_wired_to_its_preprocessing() -> None:
    space = build(SMALL, modalities=tuple(Modality), weights=STATE_DICT)
    assert set(space.encoders) == set(Modality)
    # Preprocessed tensors pass through the depth, thermal and IMU transforms unchanged.
    io = load_io()
    for modality in (Modality.DEPTH, Modality.THERMAL, Modality.IMU):
        emb = space.encode(modality, list(io["inputs"][modality.value])).vectors
        expected = _unit(io["outputs"][modality.value])
        torch.testing.assert_close(emb, expected, atol=1e-5, rtol=0)
    media = Path(__file__).parents[1] / "golden" / "media"
    model = ImageBindModel(ImageBindConfig.small())
    model.load_state_dict(torch.load(STATE_DICT, weights_only=True))
    model.eval()
    cases = {
        Modality.VIDEO: ("testsrc_320x240_30fps_3s.mp4", "vision", 15),
        Modality.AUDIO: ("speech_44k1_mono.wav", "audio", 3),
        Modality.IMAGE: ("img_portrait_rgba_300x500.png", "vision", 1),
    }
    for modality, (name, tower, clips) in cases.items():
        x = space.preprocess(modality, media / name)
        assert x.shape[0] == clips
        emb = space.encode(modality, [media / name]).vectors  # (1, 64)
        with torch.no_grad():
            ref = model.forward_reference({tower: x.unsqueeze(0)})[tower]  # clips axis
        torch.testing.assert_close(emb, _unit(ref), atol=1e-6, rtol=0)
