"""A plain eager ImageBind tower that mirrors the reference computation (the speed baseline).

What the reference `ImageBindModel` does per tower, written out with stock torch modules: the
stem (Conv3d over the repeated image frames, Conv2d + LayerNorm, token table + positions),
sequence-first `torch.nn.MultiheadAttention` blocks called with `need_weights=False` and the
(77, 77) additive causal mask for text, every token through every block, the head on the pooled
token, then L2 normalisation. Text runs all 77 positions of every prompt. The weights are the
tensors of an openbind `ImageBindModel` (shared, not copied).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openbind.encoders.imagebind import ImageBindModel


class PlainBlock(nn.Module):
    """Pre-norm block, sequence-first (L, B, D), as the reference's `BlockWithMasking`."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        attn = block.attn
        dim = attn.in_proj_weight.shape[1]
        with torch.device("meta"):
            self.attn = nn.MultiheadAttention(
                dim, attn.num_heads, bias=True, add_bias_kv=attn.bias_k is not None
            )
        self.attn.load_state_dict(attn.state_dict(), assign=True)
        self.norm_1, self.norm_2 = block.norm_1, block.norm_2
        self.fc1, self.fc2 = block.mlp.fc1, block.mlp.fc2

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.norm_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.fc2(F.gelu(self.fc1(self.norm_2(x))))


class PlainTower(nn.Module):
    """One reference tower: preprocessed clips (N, ...) -> normalised embeddings (N, out_dim).

    Args:
        model: the openbind model holding the weights.
        name: reference tower name ("vision", "text", "audio", "depth", "thermal", "imu").
    """

    def __init__(self, model: ImageBindModel, name: str) -> None:
        super().__init__()
        self.name = name
        self.pre = model.modality_preprocessors[name]
        trunk = model.modality_trunks[name]
        self.pre_norm = trunk.pre_transformer_layer
        self.blocks = nn.ModuleList(PlainBlock(b) for b in trunk.blocks)
        self.head = model.modality_heads[name]

    def stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, L, D) trunk tokens and the attention mask, as the reference preprocessors make."""
        pre = self.pre
        if self.name == "text":
            return pre.token_embedding(x) + pre.pos_embed, pre.mask
        if self.name == "imu":
            w = pre.imu_stem
            t = x.unfold(-1, w.kernel, w.kernel).permute(0, 2, 1, 3).flatten(2)
            t = w.norm_layer(w.proj(t))
            cls = pre.cls_token.expand(t.shape[0], -1, -1)
            return torch.cat([cls, t], 1) + pre.pos_embed, None
        stem = pre.get_submodule(pre.stem_name)
        if self.name == "vision":
            if x.ndim == 4:
                x = x.unsqueeze(2)
            if x.shape[2] == 1:
                x = x.repeat(1, 1, 2, 1, 1)  # PadIm2Video "repeat"
            conv = stem.proj[1]
            t = F.conv3d(x, conv.weight, stride=conv.stride)
        else:
            t = F.conv2d(x, stem.proj.weight, stride=stem.proj.stride)
        t = stem.norm_layer(t.flatten(2).transpose(1, 2))  # (B, N, D)
        cls = pre.cls_token.expand(t.shape[0], -1, -1)
        return torch.cat([cls, t], 1) + pre.pos_embedding_helper.pos_embed, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, mask = self.stem(x)
        h = self.pre_norm(tokens).transpose(0, 1)  # (L, B, D), the reference's layout
        for block in self.blocks:
            h = block(h, mask)
        h = h.transpose(0, 1)  # (B, L, D)
        if self.name == "text":
            out = self.head(h, index=x.argmax(dim=-1))
        else:
            out = self.head(h)
        return F.normalize(out, dim=-1)
