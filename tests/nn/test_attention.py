"""MultiheadAttention equals torch.nn.MultiheadAttention with the same parameters."""

from __future__ import annotations

import pytest
import torch

from openbind.nn.attention import MultiheadAttention


def _reference(
    ours: MultiheadAttention, dim: int, heads: int, bias_kv: bool
) -> torch.nn.MultiheadAttention:
    ref = torch.nn.MultiheadAttention(dim, heads, add_bias_kv=bias_kv, batch_first=True)
    missing, unexpected = ref.load_state_dict(ours.state_dict(), strict=True)
    assert not missing and not unexpected
    return ref.eval()


@pytest.mark.parametrize("bias_kv", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_torch_mha(bias_kv: bool, causal: bool) -> None:
    torch.manual_seed(0)
    dim, heads, n = 48, 4, 9
    ours = MultiheadAttention(dim, heads, add_bias_kv=bias_kv).eval()
    with torch.no_grad():
        ours.in_proj_bias.normal_()
        ours.out_proj.bias.normal_()
    ref = _reference(ours, dim, heads, bias_kv)
    x = torch.randn(3, n, dim)
    mask = torch.full((n, n), float("-inf")).triu_(1) if causal else None
    with torch.no_grad():
        expected = ref(x, x, x, need_weights=False, attn_mask=mask)[0]
        got = ours(x, mask)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_state_dict_keys_follow_torch_layout() -> None:
    ours = MultiheadAttention(16, 2, add_bias_kv=True)
    assert list(ours.state_dict()) == [
        "in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight", "out_proj.bias",
    ]  # fmt: skip
    assert ours.bias_k.shape == (1, 1, 16)


def test_causal_mask_blocks_future_tokens() -> None:
    torch.manual_seed(0)
    attn = MultiheadAttention(16, 2, add_bias_kv=True).eval()
    x = torch.randn(1, 5, 16)
    y = x.clone()
    y[:, 3:] += 10.0  # change only the last two tokens
    mask = torch.full((5, 5), float("-inf")).triu_(1)
    with torch.no_grad():
        a, b = attn(x, mask), attn(y, mask)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert (a[:, 3:] - b[:, 3:]).abs().max() > 0.1


def test_width_must_divide_heads() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        MultiheadAttention(10, 3)
