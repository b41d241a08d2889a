"""checkpoint: loading .pth / .safetensors / converted folders by key prefix, damaged files, key
checks, and atomic per-group conversion."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from openbind import checkpoint
from openbind.checkpoint import check_keys, convert, group_by_prefix, load_state_dict
from openbind.errors import BadInput, CheckpointMismatch, MissingWeights, WeightsError

TOWERS = ("vision", "audio", "text")


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {}
    for m in TOWERS:
        state[f"modality_preprocessors.{m}.cls_token"] = torch.randn(1, 1, 8, generator=g)
        state[f"modality_trunks.{m}.blocks.0.attn.in_proj_weight"] = torch.randn(24, 8, generator=g)
        state[f"modality_heads.{m}.0.weight"] = torch.randn(8, generator=g).half()
    state["modality_postprocessors.audio.1.log_logit_scale"] = torch.tensor(2.9957)  # 0-d buffer
    state["modality_preprocessors.text.mask"] = torch.ones(4, 4).triu(1).bool()
    state["modality_preprocessors.text.ids"] = torch.arange(5)
    state["modality_heads.text.bf"] = torch.randn(3, 2, generator=g).bfloat16()
    state["modality_heads.vision.empty"] = torch.zeros(0, 4)
    return state


def _tower(key: str) -> str:
    return key.split(".")[1]


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k


def _subset(state: dict[str, torch.Tensor], *prefixes: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.startswith(prefixes)}


@pytest.fixture
def pth(tmp_path) -> Path:
    path = tmp_path / "ckpt.pth"
    torch.save(_state(), path)
    return path


@pytest.mark.parametrize("mmap", [True, False])
def test_load_pth_with_prefixes(pth, mmap):
    audio = ("modality_trunks.audio.", "modality_heads.audio.")
    _assert_same(load_state_dict(pth, prefixes=audio, mmap=mmap), _subset(_state(), *audio))
    _assert_same(load_state_dict(pth, mmap=mmap), _state())


def test_load_legacy_pth_with_mmap_requested(tmp_path):
    path = tmp_path / "old.pt"
    torch.save(_state(), path, _use_new_zipfile_serialization=False)
    _assert_same(load_state_dict(path, mmap=True), _state())


def test_load_safetensors_with_prefixes(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(_state(), path)
    heads = load_state_dict(path, prefixes=["modality_heads."])
    _assert_same(heads, _subset(_state(), "modality_heads."))
    assert load_state_dict(path, prefixes=[]) == {}


def test_missing_file_raises_missing_weights(tmp_path):
    with pytest.raises(MissingWeights, match=r"nope\.pth"):
        load_state_dict(tmp_path / "nope.pth")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_file_raises_weights_error_naming_it(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    if suffix == ".pth":
        torch.save(_state(), path)
    else:
        save_file(_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupted") as e:
        load_state_dict(path)
    assert str(path) in str(e.value) and "download" in str(e.value)


def test_garbage_and_unknown_formats_raise_weights_error(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(WeightsError, match=r"junk\.pth is truncated or corrupted"):
        load_state_dict(junk)
    other = tmp_path / "w.onnx"
    other.write_bytes(b"x")
    with pytest.raises(WeightsError, match=r"unknown checkpoint format '\.onnx'"):
        load_state_dict(other)


def test_wrapped_state_dict_is_rejected_with_the_reason(tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"model": _state(), "epoch": 3}, path)
    with pytest.raises(WeightsError, match="not a plain state dict: 'model' holds a dict"):
        load_state_dict(path)


def test_check_keys_accepts_an_exact_match():
    state = _state()
    check_keys({k: v.shape for k, v in state.items()}, state, source="ckpt.pth")


def test_check_keys_lists_missing_unexpected_and_wrongly_shaped_keys():
    expected = {"a": torch.Size([2]), "b": torch.Size([3, 4]), "c": (5,)}
    state = {"b": torch.zeros(4, 3), "c": torch.zeros(5), "z": torch.zeros(1)}
    with pytest.raises(CheckpointMismatch) as e:
        check_keys(expected, state, source="ckpt.pth")
    assert str(e.value) == (
        "ckpt.pth does not fit the model:\n"
        "  1 missing key: a\n"
        "  1 unexpected key: z\n"
        "  1 wrongly shaped key: b (checkpoint (4, 3), model (3, 4))"
    )


def test_check_keys_shows_the_first_keys_and_counts_all():
    expected = {f"k{i:02d}": (1,) for i in range(25)}
    with pytest.raises(CheckpointMismatch) as e:
        check_keys(expected, {}, source="x", limit=3)
    assert (
        str(e.value)
        == "x does not fit the model:\n  25 missing keys: k00, k01, k02 ... and 22 more"
    )


def test_group_by_prefix():
    group_of = group_by_prefix({"audio": ["modality_trunks.audio.", "modality_heads.audio."]})
    assert group_of("modality_heads.audio.0.weight") == "audio"
    with pytest.raises(
        CheckpointMismatch, match=r"'modality_heads\.vision\.0' belongs to no group"
    ):
        group_of("modality_heads.vision.0")


def test_convert_writes_one_verified_file_per_group(pth, tmp_path):
    dst = convert(pth, tmp_path / "out", group_of=_tower)
    assert dst == tmp_path / "out"
    assert sorted(p.name for p in dst.iterdir()) == [
        "audio.safetensors", "manifest.json", "text.safetensors", "vision.safetensors",
    ]  # fmt: skip
    manifest = json.loads((dst / "manifest.json").read_text())
    assert manifest["format"] == "openbind.checkpoint" and manifest["source"] == "ckpt.pth"
    state = _state()
    for group, info in manifest["groups"].items():
        file = dst / info["file"]
        assert info["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        assert info["size"] == file.stat().st_size
        assert info["keys"] == [k for k in state if _tower(k) == group]
        # The streamed files are standard safetensors: the reference reader agrees.
        ref = load_file(file)
        assert sorted(ref) == sorted(info["keys"])
        for k in ref:
            assert torch.equal(ref[k], state[k]) and ref[k].dtype == state[k].dtype
    _assert_same(load_state_dict(dst), state)


def test_folder_load_opens_only_the_groups_asked_for(pth, tmp_path):
    dst = convert(pth, tmp_path / "out", group_of=_tower)
    (dst / "audio.safetensors").write_bytes(b"damaged")
    (dst / "text.safetensors").unlink()
    vision = ("modality_preprocessors.vision.", "modality_trunks.vision.")
    _assert_same(load_state_dict(dst, prefixes=vision), _subset(_state(), *vision))
    with pytest.raises(WeightsError, match=r"audio\.safetensors is truncated or corrupted"):
        load_state_dict(dst, prefixes=["modality_trunks.audio."])
    with pytest.raises(WeightsError, match=r"text\.safetensors of group 'text' is missing"):
        load_state_dict(dst, prefixes=["modality_heads.text."])


def test_folder_without_manifest_raises(tmp_path):
    with pytest.raises(WeightsError, match=r"no manifest\.json"):
        load_state_dict(tmp_path)


def test_convert_refuses_to_overwrite_unless_told(pth, tmp_path):
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "old.txt").write_text("keep")
    with pytest.raises(BadInput, match="already exists"):
        convert(pth, dst, group_of=_tower)
    assert (dst / "old.txt").read_text() == "keep"
    convert(pth, dst, group_of=_tower, overwrite=True)
    assert not (dst / "old.txt").exists() and (dst / "manifest.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pth", "out"]


def test_failed_convert_leaves_nothing(tmp_path):
    src = tmp_path / "src.safetensors"
    save_file({"a.x": torch.zeros(2), "b.y": torch.zeros(2, dtype=torch.complex64)}, src)
    with pytest.raises(WeightsError, match=r"cannot store dtype torch\.complex64"):
        convert(src, tmp_path / "out", group_of=lambda k: k[0])
    with pytest.raises(CheckpointMismatch, match="belongs to no group"):
        convert(src, tmp_path / "out", group_of=group_by_prefix({"a": ["a."]}))
    with pytest.raises(WeightsError, match="not a valid file name"):
        convert(src, tmp_path / "out", group_of=lambda k: "../evil")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.safetensors"]


def test_convert_on_a_full_disk_leaves_nothing(pth, tmp_path):
    # A child process whose files may not grow past 1 kB: writes fail with EFBIG, like a full disk.
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "from openbind.checkpoint import convert\n"
        "from openbind.errors import WeightsError\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "try:\n"
        f"    convert({str(pth)!r}, {str(tmp_path / 'out')!r}, group_of=lambda k: k.split('.')[1])\n"
        "except WeightsError as e:\n"
        "    print(e)\n"
        "    sys.exit(7)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    assert "no space left" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pth"]


def test_write_safetensors_returns_the_file_sha(tmp_path):
    path = tmp_path / "x.safetensors"
    sha = checkpoint.write_safetensors(path, {"w": torch.arange(6.0).reshape(2, 3).T})
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert torch.equal(load_file(path)["w"], torch.arange(6.0).reshape(2, 3).T)
    assert os.path.getsize(path) % 8 == 0  # 8-byte aligned header + 24 data bytes
