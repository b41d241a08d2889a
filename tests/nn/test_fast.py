"""The inference shortcuts of openbind.nn.fast give the outputs of the plain computation."""

from __future__ import annotations

import pytest
import torch

from openbind.nn.fast import (
    Packing,
    causal_mask,
    drop_packed,
    is_causal_mask,
    maybe_pack,
    packed_bytes,
    page_out,
    pooled_forward,
    prepack_available,
    set_lazy_prepack,
)
from openbind.nn.lora import add_lora
from openbind.nn.transformer import Transformer

CAUSAL = torch.full((7, 7), float("-inf")).triu_(1)


def _trunk(bias_kv: bool) -> Transformer:
    torch.manual_seed(0)
    trunk = Transformer(32, 3, 4, add_bias_kv=bias_kv, pre_norm=True).eval()
    with torch.no_grad():
        for p in trunk.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return trunk


def test_packing_round_trip() -> None:
    lengths = torch.tensor([2, 5, 1])
    packing = Packing.from_lengths(lengths)
    x = torch.randn(3, 5, 4)
    packed = packing.pack(x)
    assert packed.shape == (8, 4)
    torch.testing.assert_close(packed[2:7], x[1])
    back = packing.unpack(packed)
    torch.testing.assert_close(back[1], x[1])
    assert back[0, 2:].abs().sum() == 0 and back[2, 1:].abs().sum() == 0
    assert packing.flat_rows(torch.tensor([1, 4, 0])).tolist() == [1, 6, 7]


def test_maybe_pack_only_when_padding_is_large() -> None:
    assert maybe_pack(torch.tensor([5, 5, 4]), 5) is None
    assert maybe_pack(torch.tensor([5, 1, 1]), 5) is not None


def test_is_causal_mask() -> None:
    assert is_causal_mask(CAUSAL)
    assert not is_causal_mask(torch.zeros(7, 7))
    assert not is_causal_mask(None)
    assert causal_mask(3, 1).tolist() == [
        [True, False, False, True],
        [True, True, False, True],
        [True, True, True, True],
    ]


@pytest.mark.parametrize("bias_kv", [False, True])
def test_causal_packed_rows_equal_the_masked_full_pass(bias_kv: bool) -> None:
    trunk = _trunk(bias_kv)
    x = torch.randn(4, 7, 32)
    lengths = torch.tensor([3, 7, 1, 5])
    rows = lengths - 1
    with torch.no_grad():
        full = trunk(x, CAUSAL)  # (B, 7, D), every position
        expected = full[torch.arange(4), rows]
        causal = trunk(x, is_causal=True)
        packing = Packing.from_lengths(lengths, 7)
        packed = trunk(packing.pack(x), is_causal=True, packing=packing, rows=rows)
        packed_all = trunk(packing.pack(x), is_causal=True, packing=packing)
    torch.testing.assert_close(causal, full, atol=1e-5, rtol=1e-5)
    assert packed.shape == (4, 1, 32)
    torch.testing.assert_close(packed[:, 0], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packing.unpack(packed_all)[1], full[1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bias_kv", [False, True])
def test_rows_without_mask_equal_the_full_pass(bias_kv: bool) -> None:
    trunk = _trunk(bias_kv)
    x = torch.randn(3, 6, 32)
    with torch.no_grad():
        full = trunk(x)
        first = trunk(x, rows=torch.zeros(3, dtype=torch.long))
    torch.testing.assert_close(first[:, 0], full[:, 0], atol=1e-5, rtol=1e-5)
    # a changed token still reaches the cls row through the keys of the last block
    y = x.clone()
    y[:, -1] += 3 * torch.randn(32)  # not a constant shift: the pre-norm would remove it
    with torch.no_grad():
        moved = trunk(y, rows=torch.zeros(3, dtype=torch.long))
    assert (moved - first).abs().max() > 1e-3


def test_packed_non_causal_masks_padding_keys() -> None:
    trunk = _trunk(True)
    lengths = torch.tensor([2, 6])
    x = torch.randn(2, 6, 32)
    packing = Packing.from_lengths(lengths)
    with torch.no_grad():
        short = trunk(x[:1, :2])  # the first sequence alone, unpadded
        packed = trunk(packing.pack(x), packing=packing)
    torch.testing.assert_close(packed[:2], short[0], atol=1e-5, rtol=1e-5)


def test_pooled_forward_reads_the_rows_of_the_full_pass() -> None:
    trunk = _trunk(False)
    x = torch.randn(3, 7, 32)
    lengths = torch.tensor([2, 7, 4])
    with torch.no_grad():
        full = trunk(x, CAUSAL)
        text = pooled_forward(trunk, x, lengths - 1, attn_mask=CAUSAL, causal_lengths=lengths)
        cls = pooled_forward(trunk, x, torch.zeros(3, dtype=torch.long))
        plain = trunk(x)
    torch.testing.assert_close(text[:, 0], full[torch.arange(3), lengths - 1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cls[:, 0], plain[:, 0], atol=1e-5, rtol=1e-5)


def _plain(trunk: Transformer, x: torch.Tensor) -> torch.Tensor:
    old = set_lazy_prepack(False)
    try:
        with torch.no_grad():
            return trunk(x)
    finally:
        set_lazy_prepack(old)


@pytest.mark.skipif(not prepack_available(), reason="torch without oneDNN")
def test_lazy_packed_weights_give_the_plain_outputs_and_keep_the_state_dict() -> None:
    trunk = _trunk(bias_kv=True)
    keys = list(trunk.state_dict())
    x = torch.randn(2, 7, 32)
    with torch.inference_mode():
        packed = trunk(x)
    assert packed_bytes() >= sum(
        p.numel() * 4 for n, p in trunk.named_parameters() if n.endswith("weight") and p.ndim == 2
    )
    torch.testing.assert_close(packed, _plain(trunk, x), atol=1e-5, rtol=1e-5)
    assert list(trunk.state_dict()) == keys  # nothing added, nothing dropped
    state = {k: v * 1.5 for k, v in trunk.state_dict().items()}  # new weights: copies remade
    trunk.load_state_dict(state)
    with torch.no_grad():
        again = trunk(x)
    torch.testing.assert_close(again, _plain(trunk, x), atol=1e-5, rtol=1e-5)
    assert (again - packed).abs().max() > 1e-2


@pytest.mark.skipif(not prepack_available(), reason="torch without oneDNN")
def test_lazy_packed_weights_follow_in_place_updates_and_leave_training() -> None:
    trunk = _trunk(bias_kv=False)
    x = torch.randn(2, 7, 32)
    with torch.no_grad():
        trunk(x)
        trunk.blocks[0].mlp.fc1.weight.mul_(-1.0)  # in place: version counter moves
        torch.testing.assert_close(trunk(x), _plain(trunk, x), atol=1e-5, rtol=1e-5)
    before = packed_bytes()
    assert before > 0
    trunk.train()
    trunk(x).sum().backward()  # training: plain F.linear with gradients, copies dropped
    assert trunk.blocks[0].mlp.fc1.weight.grad is not None
    assert packed_bytes() < before
    with torch.no_grad():
        trunk.eval()(x)
    assert packed_bytes() == before
    weights = sum(p.numel() * 4 for p in trunk.parameters() if p.ndim == 2)
    drop_packed(trunk)
    assert packed_bytes() <= before - weights
    drop_packed()
    assert packed_bytes() == 0


@pytest.mark.skipif(not prepack_available(), reason="torch without oneDNN")
def test_lazy_packing_skips_lora_and_autograd() -> None:
    trunk = _trunk(bias_kv=False)
    add_lora(trunk, ["in_proj", "fc1"], rank=2, alpha=4.0)
    for name, p in trunk.named_parameters():
        if "lora" in name:
            torch.nn.init.normal_(p, std=0.1)
    trunk.eval()
    x = torch.randn(2, 7, 32)
    with torch.no_grad():
        out = trunk(x)
    torch.testing.assert_close(out, _plain(trunk, x), atol=1e-5, rtol=1e-5)
    y = trunk(x)  # eval with autograd on: differentiable, no packed path
    assert y.requires_grad


def test_memory_mapped_weights_read_back_after_packing(tmp_path) -> None:
    from safetensors.torch import save_file

    from openbind.checkpoint import load_state_dict

    trunk = _trunk(bias_kv=True)
    original = {k: v.clone() for k, v in trunk.state_dict().items()}
    save_file(original, str(tmp_path / "trunk.safetensors"))
    trunk.load_state_dict(load_state_dict(tmp_path / "trunk.safetensors"), assign=True)
    x = torch.randn(2, 7, 32)
    with torch.inference_mode():
        out = trunk(x)  # packs, then hands the mapped pages back
    for key, value in trunk.state_dict().items():  # pages read again from the file
        torch.testing.assert_close(value, original[key], atol=0, rtol=0)
    torch.testing.assert_close(out, _plain(trunk, x), atol=1e-5, rtol=1e-5)
    anon = torch.arange(1 << 16, dtype=torch.float32)  # anonymous memory keeps its contents
    page_out(anon)
    assert torch.equal(anon, torch.arange(1 << 16, dtype=torch.float32))


@pytest.mark.skipif(not prepack_available(), reason="torch without oneDNN")
def test_lazy_packed_weights_follow_dtype_round_trips() -> None:
    """`.to()` swaps storages without moving the version counter: the copy must still follow."""
    trunk = _trunk(bias_kv=False)
    x = torch.randn(2, 7, 32)
    with torch.no_grad():
        trunk(x)
        trunk.half().float()  # weights rounded to float16 and back: new values, same versions
        torch.testing.assert_close(trunk(x), _plain(trunk, x), atol=1e-5, rtol=1e-5)
        trunk.blocks[0].mlp.fc1.weight.data = torch.zeros_like(trunk.blocks[0].mlp.fc1.weight)
        torch.testing.assert_close(trunk(x), _plain(trunk, x), atol=1e-5, rtol=1e-5)
