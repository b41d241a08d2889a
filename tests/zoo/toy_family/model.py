"""Toy CLIP: a text and an image tower, one attention layer each, in openbind's layout.

In the library this file would be `src/openbind/encoders/toy/model.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from openbind.types import Modality


@dataclass(frozen=True)
class ToyConfig:
    """The architecture, read from the Hugging Face folder's `config.json`."""

    vocab_size: int = 64
    context_length: int = 8
    hidden_size: int = 16
    num_heads: int = 2
    num_layers: int = 1
    image_size: int = 8
    patch_size: int = 4
    projection_dim: int = 8


class _Encoder(nn.Module):
    """Self-attention layers (fused q/k/v, as `nn.MultiheadAttention` stores them) + norm + pool."""

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.layers = nn.ModuleList(
            nn.MultiheadAttention(h, config.num_heads, batch_first=True)
            for _ in range(config.num_layers)
        )
        self.norm = nn.LayerNorm(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn in self.layers:
            x = x + attn(x, x, x, need_weights=False)[0]
        return self.norm(x).mean(dim=1)


class ToyTextTower(nn.Module):
    """Token ids (N, context_length) -> (N, projection_dim)."""

    modality = Modality.TEXT

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.out_dim = config.projection_dim
        self.tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.pos = nn.Embedding(config.context_length, config.hidden_size)
        self.encoder = _Encoder(config)
        self.proj = nn.Linear(config.hidden_size, config.projection_dim, bias=False)
        self.log_logit_scale = nn.Parameter(torch.zeros(()))

    @property
    def logit_scale(self) -> float:
        return float(self.log_logit_scale.detach().exp())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.pos.weight[: ids.shape[1]]
        return self.proj(self.encoder(x))


class ToyImageTower(nn.Module):
    """Images (N, 3, image_size, image_size) -> (N, projection_dim)."""

    modality = Modality.IMAGE
    logit_scale = 1.0

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.out_dim = config.projection_dim
        h, p = config.hidden_size, config.patch_size
        self.patch = nn.Conv2d(3, h, kernel_size=p, stride=p, bias=False)
        self.pos = nn.Embedding((config.image_size // p) ** 2, h)
        self.encoder = _Encoder(config)
        self.proj = nn.Linear(h, config.projection_dim, bias=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch(images).flatten(2).transpose(1, 2) + self.pos.weight
        return self.proj(self.encoder(x))


class ToyClip(nn.Module):
    """Both towers; its state dict is the openbind side of the key map."""

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.text = ToyTextTower(config)
        self.image = ToyImageTower(config)


@dataclass(frozen=True)
class ByteTokensConfig:
    """Settings of `ByteTokens` (stored in the card)."""

    context_length: int = 8
    vocab_size: int = 64


class ByteTokens:
    """A text item -> (1, context_length) token ids: its UTF-8 bytes modulo the vocabulary, padded
    with 0 (a stand-in for a real tokenizer)."""

    def __init__(self, config: ByteTokensConfig) -> None:
        self.config = config

    def __call__(self, item: Any) -> torch.Tensor:
        c = self.config
        ids = [1 + b % (c.vocab_size - 1) for b in str(item).encode()][: c.context_length]
        return torch.tensor([ids + [0] * (c.context_length - len(ids))])
