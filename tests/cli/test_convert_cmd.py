"""`openbind convert`: per-tower safetensors from a checkpoint with the ImageBind key layout.

This module stands in for a zoo family module: its `key_groups` gives two ImageBind towers' real key
prefixes, and the test model's builder points here. The last test converts with the real family.
"""

from __future__ import annotations

import json

import pytest
import torch

from openbind import registry
from openbind.checkpoint import load_state_dict
from openbind.cli.main import main
from openbind.encoders.imagebind.model import imagebind_key_prefixes
from openbind.registry import ModelCard

TOWERS = ("vision", "audio")


def key_groups() -> dict[str, tuple[str, ...]]:
    return {name: imagebind_key_prefixes(name) for name in TOWERS}


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    state = {}
    for m in TOWERS:
        state[f"modality_preprocessors.{m}.cls_token"] = torch.randn(1, 1, 16, generator=g)
        state[f"modality_trunks.{m}.blocks.0.attn.in_proj_weight"] = torch.randn(
            48, 16, generator=g
        )
        state[f"modality_heads.{m}.0.weight"] = torch.randn(16, generator=g)
    state["modality_postprocessors.audio.1.log_logit_scale"] = torch.tensor(2.9957)
    return state


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(_state(), path)
    with registry.isolated():
        registry.register(ModelCard("zzconv_tiny.v1", f"{__name__}:build", ("image", "audio"), 16))
        registry.register(ModelCard("zzflat_tiny.v1", "openbind.registry:get", ("text",), 16))
        yield path


def test_convert_writes_one_file_per_tower(src, tmp_path, capsys):
    dst = tmp_path / "tiny"
    assert main(["convert", str(src), str(dst), "--model", "zzconv_tiny", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {dst} (2 files" in out and "zzconv_tiny.v1" in out
    assert "vision.safetensors" in out and "audio.safetensors" in out
    manifest = json.loads((dst / "manifest.json").read_text())
    assert {g: len(i["keys"]) for g, i in manifest["groups"].items()} == {"vision": 3, "audio": 4}
    audio = load_state_dict(dst, prefixes=imagebind_key_prefixes("audio"))
    state = _state()
    assert sorted(audio) == sorted(k for k in state if ".audio." in k)
    assert all(torch.equal(audio[k], state[k]) for k in audio)


def test_key_outside_every_tower_fails_and_writes_nothing(src, tmp_path, capsys):
    torch.save({**_state(), "modality_trunks.depth.x": torch.zeros(1)}, src)
    assert main(["convert", str(src), str(tmp_path / "out"), "--model", "zzconv_tiny", "-q"]) == 3
    assert "'modality_trunks.depth.x' belongs to no group" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_existing_destination_needs_force(src, tmp_path, capsys):
    dst = tmp_path / "out"
    dst.mkdir()
    assert main(["convert", str(src), str(dst), "--model", "zzconv_tiny", "-q"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["convert", str(src), str(dst), "--model", "zzconv_tiny", "-q", "--force"]) == 0
    assert (dst / "manifest.json").exists()


def test_missing_source(src, tmp_path, capsys):
    assert (
        main(["convert", str(tmp_path / "no.pth"), str(tmp_path / "out"), "--model", "zzconv_tiny"])
        == 3
    )
    assert "checkpoint not found" in capsys.readouterr().err


def test_unknown_model_suggests_close_names(src, tmp_path, capsys):
    assert main(["convert", str(src), str(tmp_path / "out"), "--model", "zzconv_tiyn"]) == 2
    assert "did you mean zzconv_tiny" in capsys.readouterr().err


def test_model_without_a_tower_layout(src, tmp_path, capsys):
    assert main(["convert", str(src), str(tmp_path / "out"), "--model", "zzflat_tiny"]) == 2
    assert "zzflat_tiny.v1 has no per-tower checkpoint layout" in capsys.readouterr().err


def test_imagebind_family_layout(src, tmp_path, capsys):
    # The default --model is the registered ImageBind; a 2-tower checkpoint gives 2 files.
    assert main(["convert", str(src), str(tmp_path / "ib"), "-q"]) == 0
    assert "2 files" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "ib").iterdir()) == [
        "audio.safetensors", "manifest.json", "vision.safetensors",
    ]  # fmt: skip


def test_float16_copy_halves_the_tensors_and_keeps_scalars(src, tmp_path, capsys):
    full, half = tmp_path / "full", tmp_path / "half"
    assert main(["convert", str(src), str(full), "--model", "zzconv_tiny", "-q"]) == 0
    args = ["convert", str(src), str(half), "--model", "zzconv_tiny", "-q", "--dtype", "float16"]
    assert main(args) == 0
    assert "float16) for zzconv_tiny.v1" in capsys.readouterr().out
    assert json.loads((half / "manifest.json").read_text())["dtype"] == "float16"
    state, back = _state(), load_state_dict(half)
    scale = "modality_postprocessors.audio.1.log_logit_scale"
    assert back[scale].dtype == torch.float32 and torch.equal(back[scale], state[scale])
    for key in (k for k in state if k != scale):
        assert back[key].dtype == torch.float16
        torch.testing.assert_close(back[key].float(), state[key], atol=2e-3, rtol=1e-3)
    size = {d: (d / "vision.safetensors").stat().st_size for d in (full, half)}
    assert size[half] < 0.6 * size[full]
