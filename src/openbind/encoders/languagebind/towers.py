"""LanguageBind towers on openbind's blocks: the CLIP text tower and the CLIP ViT modality towers.

Both are the Hugging Face CLIP computations (pre-norm blocks with exact GELU, fused q/k/v in
`openbind.nn.attention.MultiheadAttention`); checkpoints in the Hugging Face layout are mapped to
these keys at load (`openbind.zoo.hf_clip_keys`). Shapes follow the published checkpoints:

* text: ids (N, 77) -> token + position embedding -> blocks with a causal and a padding mask ->
  final LayerNorm -> the token at the first end-of-text id (the largest id, 49407) -> projection;
* vision: (N, C, H, W) -> Conv2d patches -> class token + position table -> LayerNorm -> blocks ->
  LayerNorm of the class token -> projection. Audio is the same tower on (N, 3, 112, 1036) mel
  chunks (an 8 x 74 patch grid, 593 positions).
* video: (N, 3, T, H, W) frames run as N*T images (row n*T + t); before every block, a temporal
  attention over the T frames of each token position (`TemporalBlock`); the class tokens of the
  T frames are averaged after the final LayerNorm. V1.5 checkpoints (`tube`) embed patches with a
  Conv3d of time kernel 1 and have one class embedding per frame.

`pooled` / `forward` skip work whose result is never read (`openbind.nn.fast`, exact): the text
tower cuts a batch after its longest text, packs short texts and computes only the end-of-text
rows in its last block; the vision towers' last block computes only the class tokens.

Every tower returns unnormalised (N, dim) features; `logit_scale` is exp of the checkpoint's
learned `logit_scale` (never applied to the features).
"""

from __future__ import annotations

import torch
from torch import nn

from openbind.encoders.languagebind.config import TextSpec, VisionSpec
from openbind.nn.attention import MultiheadAttention
from openbind.nn.block import Block
from openbind.nn.fast import Packing, pooled_forward
from openbind.nn.transformer import Transformer
from openbind.types import Modality

__all__ = ["ClipTextTower", "ClipVisionTower", "TemporalBlock"]

_INIT_LOGIT_SCALE = 2.6592  # ln(1 / 0.07), CLIP's initial temperature


class _LogitScaled(nn.Module):
    """A learned log temperature stored as `log_logit_scale` (the HF key `logit_scale`)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_logit_scale = nn.Parameter(torch.tensor(_INIT_LOGIT_SCALE))

    @property
    def logit_scale(self) -> float:
        """exp(log_logit_scale), unclipped (as Hugging Face CLIP multiplies its logits)."""
        return float(self.log_logit_scale.detach().float().exp())


def _ratio(mlp: int, width: int) -> int:
    if mlp % width:
        raise ValueError(f"MLP width {mlp} is not a multiple of the token width {width}")
    return mlp // width


class _Trunk(Transformer):
    """`nn.transformer.Transformer` (its forward and shortcuts, its key names) over given blocks
    (CLIP's quick-GELU blocks, the video tower's temporal blocks) and input norm."""

    def __init__(self, blocks: list[nn.Module], pre_norm: nn.Module) -> None:
        nn.Module.__init__(self)  # Transformer.__init__ would build ImageBind's blocks
        self.pre_transformer_layer = pre_norm
        self.blocks = nn.ModuleList(blocks)


class ClipTextTower(nn.Module):
    """The CLIP text tower: token ids (N, L) int64 -> (N, dim) features.

    Its `logit_scale` is 1.0: LanguageBind's temperatures belong to the modality checkpoints
    (`ClipVisionTower.logit_scale`), and zero-shot scores use the non-text modality's.

    Args:
        spec: sizes.
        dim: joint embedding dimension.
    """

    modality = Modality.TEXT

    def __init__(self, spec: TextSpec, dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.out_dim = dim
        d = spec.width
        self.token_embed = nn.Embedding(spec.vocab_size, d)
        self.pos_embed = nn.Parameter(torch.empty(spec.context_length, d))
        blocks = [
            Block(d, spec.heads, mlp_ratio=_ratio(spec.mlp, d), eps=spec.eps)
            for _ in range(spec.layers)
        ]
        self.trunk = _Trunk(blocks, nn.Identity())
        self.final_norm = nn.LayerNorm(d, eps=spec.eps)
        self.proj = nn.Linear(d, dim, bias=False)
        if not self.pos_embed.is_meta:
            nn.init.normal_(self.pos_embed, std=0.01)

    @property
    def logit_scale(self) -> float:
        return 1.0

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """Final-LayerNorm hidden states (N, L, width) of ids (N, L)."""
        n, length = ids.shape
        x = self.token_embed(ids) + self.pos_embed[:length]  # (N, L, D)
        eot = ids.argmax(dim=-1)  # first end-of-text (the largest id; padding repeats it)
        pos = torch.arange(length, device=ids.device)
        blocked = (pos[None, :] > pos[:, None])[None] | (pos[None, None, :] > eot[:, None, None])
        mask = torch.zeros(n, 1, length, length, dtype=x.dtype, device=ids.device)
        mask.masked_fill_(blocked[:, None], float("-inf"))  # causal + padding, (N, 1, L, L)
        return self.final_norm(self.trunk(x, mask))

    def pooled(self, ids: torch.Tensor) -> torch.Tensor:
        """The final-LayerNorm state at each row's end-of-text token: (N, width)."""
        if ids.ndim != 2 or ids.is_floating_point():
            raise ValueError(f"text ids must be an integer (N, L) tensor, got {tuple(ids.shape)}")
        length = ids.shape[1]
        eot = ids.argmax(dim=-1)  # (N,) first end-of-text
        x = self.token_embed(ids) + self.pos_embed[:length]  # (N, L, D)
        # Causal: nothing after the end-of-text token reaches it, so the batch is cut after the
        # longest text, packed when short texts leave much padding, and the last block computes
        # the end-of-text rows only (`openbind.nn.fast`; exact up to float summation order).
        out = pooled_forward(self.trunk, x, eot, causal_lengths=eot + 1)  # (N, 1, D)
        return self.final_norm(out[:, 0])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pooled(ids))


class TemporalBlock(Block):
    """A ViT block preceded by attention over the frames of every token position.

    Input (B*T, N, D), frames of one clip consecutive. For each token position: add the learned
    `temporal_embed` of frame t (it stays in the residual stream), then
    `x + temporal_attn(temporal_norm(x))` over the T frames; then the spatial block.

    Args:
        dim: width D.
        num_heads: heads of both attentions.
        frames: T.
        mlp_ratio: MLP width over D.
        eps: LayerNorm epsilon.
    """

    def __init__(
        self, dim: int, num_heads: int, frames: int, *, mlp_ratio: int = 4, eps: float = 1e-5
    ) -> None:
        super().__init__(dim, num_heads, mlp_ratio=mlp_ratio, eps=eps)
        self.frames = frames
        self.temporal_embed = nn.Parameter(torch.zeros(1, frames, dim))
        self.temporal_norm = nn.LayerNorm(dim, eps=eps)
        self.temporal_attn = MultiheadAttention(dim, num_heads)
        if not self.temporal_embed.is_meta:
            nn.init.normal_(self.temporal_embed, std=dim**-0.5)  # the reference's initialisation

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        *,
        is_causal: bool = False,
        packing: Packing | None = None,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B*T, N, D) -> (B*T, N, D), or (B*T, 1, D) at `rows` (the spatial block's shortcut)."""
        bt, n, d = x.shape
        t = self.frames
        b = bt // t
        # The residual stream stays in the (B*T, N, D) layout. The embedding is added in place of
        # a copy, the LayerNorm runs per token before the one rearrangement the attention needs
        # ((B, T, N, D) -> (B*N, T, D), on the normalised input only; q/k/v in one matmul), and
        # the attention output is added back through a strided view (no copy back).
        x = x.view(b, t, n, d) + self.temporal_embed[:, :t, None]  # (B, T, N, D)
        h = self.temporal_norm(x).transpose(1, 2).reshape(b * n, t, d)  # (B*N, T, D)
        h = self.temporal_attn(h).view(b, n, t, d).transpose(1, 2)  # (B, T, N, D) view
        x = (x + h).view(bt, n, d)
        return super().forward(x, attn_mask, is_causal=is_causal, packing=packing, rows=rows)


class ClipVisionTower(_LogitScaled):
    """A CLIP ViT modality tower: (N, C, H, W) or, for video, (N, C, T, H, W) -> (N, dim).

    Args:
        spec: sizes and input geometry.
        dim: joint embedding dimension.
        modality: the modality it embeds.
    """

    def __init__(self, spec: VisionSpec, dim: int, modality: Modality | str) -> None:
        super().__init__()
        self.spec = spec
        self.out_dim = dim
        self.modality = Modality.parse(modality)
        d, p = spec.width, spec.patch
        if spec.tube:
            self.patch_embed = nn.Conv3d(spec.channels, d, (1, p, p), stride=(1, p, p), bias=False)
            self.cls_token = nn.Parameter(torch.empty(spec.frames, d))
        else:
            self.patch_embed = nn.Conv2d(spec.channels, d, p, stride=p, bias=False)
            self.cls_token = nn.Parameter(torch.empty(d))
        self.pos_embed = nn.Parameter(torch.empty(spec.num_positions, d))
        ratio = _ratio(spec.mlp, d)
        if spec.temporal:
            blocks: list[nn.Module] = [
                TemporalBlock(d, spec.heads, spec.frames, mlp_ratio=ratio, eps=spec.eps)
                for _ in range(spec.layers)
            ]
        else:
            blocks = [
                Block(d, spec.heads, mlp_ratio=ratio, eps=spec.eps) for _ in range(spec.layers)
            ]
        self.trunk = _Trunk(blocks, nn.LayerNorm(d, eps=spec.eps))
        self.post_norm = nn.LayerNorm(d, eps=spec.eps)
        self.proj = nn.Linear(d, dim, bias=False)
        if not self.pos_embed.is_meta:
            nn.init.normal_(self.pos_embed, std=0.02)
            nn.init.normal_(self.cls_token, std=d**-0.5)

    @property
    def clip_shape(self) -> tuple[int, ...]:
        """Shape of one input clip: (C, H, W), or (C, T, H, W) for video."""
        h, w = self.spec.input_size
        if self.modality == Modality.VIDEO:
            return (self.spec.channels, self.spec.frames, h, w)
        return (self.spec.channels, h, w)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Input -> (N*T, 1 + P, D) tokens with class token and positions (before the trunk)."""
        if tuple(x.shape[1:]) != self.clip_shape:
            raise ValueError(
                f"{self.modality.value} tower input must be (N, {', '.join(map(str, self.clip_shape))}),"
                f" got {tuple(x.shape)}"
            )
        x = x.to(self.patch_embed.weight.dtype)
        if self.spec.tube:  # (N, C, T, H, W) -> (N, D, T, gh, gw) -> (N*T, P, D)
            z = self.patch_embed(x)
            z = z.permute(0, 2, 3, 4, 1).flatten(2, 3).flatten(0, 1)
            cls = self.cls_token.repeat(x.shape[0], 1)[:, None]  # (N*T, 1, D): frame t gets row t
        else:
            if x.ndim == 5:  # (N, C, T, H, W) -> (N*T, C, H, W), frames of a clip consecutive
                x = x.transpose(1, 2).flatten(0, 1)
            z = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N*T, P, D)
            cls = self.cls_token.expand(z.shape[0], 1, -1)
        return torch.cat([cls, z], dim=1) + self.pos_embed  # (N*T, 1 + P, D)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output (N*T, 1 + P, D) before the final LayerNorm."""
        return self.trunk(self.tokens(x))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Final LayerNorm of the class token, averaged over the frames: (N, D)."""
        tokens = self.tokens(x)
        # The last block computes its attention output and MLP for the class tokens only (keys
        # and values still from every token; `openbind.nn.fast`).
        rows = torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
        cls = self.post_norm(pooled_forward(self.trunk, tokens, rows)[:, 0])  # (N*T, D)
        return cls.view(x.shape[0], -1, cls.shape[-1]).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pooled(x))
