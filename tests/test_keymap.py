"""keymap: rules as data (rename, split and join of fused q/k/v, drop) and the errors that list
every key a map cannot place."""

from __future__ import annotations

import pytest
import torch

from openbind.errors import CheckpointMismatch, ConfigError
from openbind.keymap import Drop, Join, Rename, Split, apply

QKV = tuple(rf"layers\.(?P<i>\d+)\.{p}\.weight" for p in "qkv")


def _state(n_layers: int = 2) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    out = {}
    for i in range(n_layers):
        for p in "qkv":
            out[f"layers.{i}.{p}.weight"] = torch.randn(4, 4)
    out["head.w"] = torch.randn(2, 4)
    out["position_ids"] = torch.arange(4)
    return out


def test_join_fuses_qkv_in_order_and_split_undoes_it() -> None:
    state = _state()
    fused = apply(
        (Join(QKV, r"blocks.\g<i>.in_proj"), Rename(r"head\.w", "proj"), Drop("position_ids")),
        state,
        source="ckpt",
    )
    assert sorted(fused) == ["blocks.0.in_proj", "blocks.1.in_proj", "proj"]
    assert fused["blocks.1.in_proj"].shape == (12, 4)
    expected = torch.cat([state[f"layers.1.{p}.weight"] for p in "qkv"])
    assert torch.equal(fused["blocks.1.in_proj"], expected)
    back = apply(
        (
            Split(r"blocks\.(\d+)\.in_proj", tuple(rf"layers.\1.{p}.weight" for p in "qkv")),
            Rename("proj", "head.w"),
        ),
        fused,
        source="fused",
    )
    assert back.keys() == {k for k in state if k != "position_ids"}
    assert all(torch.equal(back[k], state[k]) for k in back)


def test_no_map_keeps_the_keys() -> None:
    state = _state(1)
    assert apply(None, state, source="x") == state


def test_unmapped_keys_are_all_counted_and_listed() -> None:
    state = {f"stray.{i}": torch.zeros(1) for i in range(12)} | {"head.w": torch.zeros(1)}
    with pytest.raises(CheckpointMismatch) as err:
        apply((Rename(r"head\.w", "proj"),), state, source="model.safetensors", limit=3)
    assert str(err.value) == (
        "model.safetensors: 12 key(s) map to no openbind key: stray.0, stray.1, stray.2 ... and 9 more"
    )


def test_a_join_with_a_missing_part_names_the_target_and_part() -> None:
    state = _state(1)
    del state["layers.0.k.weight"]
    with pytest.raises(
        CheckpointMismatch, match=r"blocks\.0\.in_proj lacks the parts matching .*k"
    ):
        apply((Join(QKV, r"blocks.\g<i>.in_proj"), Drop(r".*")), state, source="x")


def test_two_keys_onto_one_and_uneven_splits_are_refused() -> None:
    with pytest.raises(CheckpointMismatch, match="already mapped"):
        apply((Rename(r"(a|b)", "c"),), {"a": torch.zeros(1), "b": torch.zeros(1)}, source="x")
    with pytest.raises(CheckpointMismatch, match=r"does not split into 3 equal parts"):
        apply((Split("w", ("q", "k", "v")),), {"w": torch.zeros(4, 2)}, source="x")


def test_a_bad_regex_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bad regex"):
        apply((Rename("(", "x"),), {"a": torch.zeros(1)}, source="x")
