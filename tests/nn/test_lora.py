import pytest
import torch
from torch import nn

from openbind.nn.attention import MultiheadAttention
from openbind.nn.lora import (
    IN_PROJ,
    LoRALinear,
    QKVLoRA,
    add_lora,
    fold_lora,
    lora_modules,
    merge_adapters,
    merge_lora,
    unmerge_adapters,
)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.proj = nn.Linear(24, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(self.proj(self.qkv(x)))


def test_lora_trains_only_adapters_and_merges_to_the_original_keys():
    torch.manual_seed(0)
    block = Block()
    keys = set(block.state_dict())
    x = torch.randn(4, 8)
    before = block(x)
    assert add_lora(block, ["qkv", "proj"], rank=2, alpha=4.0) == 2
    torch.testing.assert_close(block(x), before)  # B starts at zero
    trainable = sorted(n for n, p in block.named_parameters() if p.requires_grad)
    assert trainable == ["proj.lora_a", "proj.lora_b", "qkv.lora_a", "qkv.lora_b"]

    opt = torch.optim.SGD([p for p in block.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        block(x).pow(2).sum().backward()
        opt.step()
    adapted = block(x)
    assert not torch.allclose(adapted, before)
    merge_lora(block)
    assert not any(isinstance(m, LoRALinear) for m in block.modules())
    assert set(block.state_dict()) == keys
    torch.testing.assert_close(block(x), adapted, rtol=1e-5, atol=1e-5)


def test_lora_without_matching_layers_names_the_linear_layers():
    with pytest.raises(ValueError, match=r"linear layers: \['proj', 'qkv'\]"):
        add_lora(Block(), ["fc1"], rank=2, alpha=4.0)


def test_fused_qkv_adapter_adds_one_update_per_part_and_merges_to_the_plain_keys():
    torch.manual_seed(0)
    attn = MultiheadAttention(8, 2)
    keys = set(attn.state_dict())
    x = torch.randn(3, 5, 8)
    before = attn(x)
    assert add_lora(attn, [IN_PROJ, "out_proj"], rank=2, alpha=4.0) == 2
    torch.testing.assert_close(attn(x), before)  # B starts at zero
    trainable = sorted(n for n, p in attn.named_parameters() if p.requires_grad)
    assert trainable == [
        "out_proj.lora_a",
        "out_proj.lora_b",
        "parametrizations.in_proj_weight.0.lora_a",
        "parametrizations.in_proj_weight.0.lora_b",
    ]
    [(_, qkv)] = [(n, m) for n, m in lora_modules(attn) if isinstance(m, QKVLoRA)]
    with torch.no_grad():
        qkv.lora_b.normal_()
        qkv.lora_a.normal_()
    base = attn.parametrizations.in_proj_weight.original.detach().clone()
    a, b = qkv.lora_a.view(3, 2, 8), qkv.lora_b.view(3, 8, 2)  # [A_q; A_k; A_v], [B_q; ...]
    expected = torch.cat([fold_lora(base[i * 8 : (i + 1) * 8], a[i], b[i], 2.0) for i in range(3)])
    torch.testing.assert_close(attn.in_proj_weight, expected)
    adapted = attn(x)
    assert not torch.allclose(adapted, before)
    assert merge_adapters(attn) == 2  # in place, adapters kept but inactive
    torch.testing.assert_close(attn(x), adapted)
    torch.testing.assert_close(attn.parametrizations.in_proj_weight.original, expected)
    assert unmerge_adapters(attn) == 2
    torch.testing.assert_close(attn.parametrizations.in_proj_weight.original, base)
    torch.testing.assert_close(attn(x), adapted)
    merge_adapters(attn)
    merge_lora(attn)  # folds each update exactly once, merged or not
    assert set(attn.state_dict()) == keys
    assert not lora_modules(attn)
    torch.testing.assert_close(attn.in_proj_weight, expected)
    torch.testing.assert_close(attn(x), adapted)
