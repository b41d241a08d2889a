import pytest
import torch
from torch import nn

from openbind.train.lora import LoRALinear, apply_lora, merge_lora


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
    assert apply_lora(block, ["qkv", "proj"], rank=2, alpha=4.0) == 2
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
        apply_lora(Block(), ["fc1"], rank=2, alpha=4.0)
