"""ImageBind modality preprocessors: model-ready tensors -> trunk tokens (checkpoint key layout).

Each preprocessor checks its input's shape (raising `BadInput` with expected vs got), embeds it
into (B, L, D) tokens, and says what the trunk and head need besides the tokens (`Stem`).
Attribute names (`rgbt_stem`, `depth_stem`, `pos_embedding_helper`, ...) are the official
checkpoint's, so its state dict loads unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from openbind.encoders.imagebind.config import (
    AudioTrunkConfig,
    ImuTrunkConfig,
    MapConfig,
    TextTrunkConfig,
    VisionConfig,
)
from openbind.errors import BadInput
from openbind.nn.patch_embed import UnfoldPatchEmbed, conv_grid, conv_patch_embed, video_patch_embed
from openbind.nn.pos_embed import LearnedPosEmbed, prepend_tokens

STEM_NORM_EPS = 1e-5
"""The stem LayerNorms use PyTorch's default epsilon; every other LayerNorm uses 1e-6."""


@dataclass
class Stem:
    """What a preprocessor hands to the trunk and head.

    Attributes:
        tokens: (B, L, D) trunk input.
        attn_mask: optional (L, L) additive attention mask.
        head_kwargs: extra arguments of the head (text: `index`, the end-of-text positions).
        causal: `attn_mask` is causal and the head reads token `head_kwargs["index"]`, so the
            tokens after it are never needed (the fast path trims and packs them away).
    """

    tokens: torch.Tensor
    attn_mask: torch.Tensor | None = None
    head_kwargs: dict[str, torch.Tensor] = field(default_factory=dict)
    causal: bool = False


def check_shape(name: str, x: torch.Tensor, expected: tuple[int, ...]) -> None:
    """Raise `BadInput` unless `x` is (N, *expected)."""
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        want = ", ".join(["N", *map(str, expected)])
        raise BadInput(f"{name} input must have shape ({want}), got {tuple(x.shape)}")


class PatchPreprocessor(nn.Module):
    """Conv stem -> prepend the cls token -> add learned positions.

    Args:
        name: the modality, for error messages.
        stem_name: attribute name of the stem in the checkpoint (`rgbt_stem` or `depth_stem`).
        stem: maps the input to (B, N, D) patch tokens.
        num_patches: N for `clip_shape`.
        dim: D.
        clip_shape: the one input shape (without batch) the stem and positions are made for.
    """

    def __init__(
        self,
        name: str,
        stem_name: str,
        stem: nn.Module,
        num_patches: int,
        dim: int,
        clip_shape: tuple[int, ...],
    ) -> None:
        super().__init__()
        self.name = name
        self.clip_shape = clip_shape
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.stem_name = stem_name
        self.add_module(stem_name, stem)
        self.pos_embedding_helper = LearnedPosEmbed(num_patches + 1, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """cls token and positions ~ N(0, 1/D) (the reference's "openclip" init)."""
        std = self.cls_token.shape[-1] ** -0.5
        nn.init.normal_(self.cls_token, std=std)
        nn.init.normal_(self.pos_embedding_helper.pos_embed, std=std)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise `BadInput` unless `x` is (N, *clip_shape)."""
        check_shape(self.name, x, self.clip_shape)

    def forward(self, x: torch.Tensor) -> Stem:
        self.check_input(x)
        tokens = self.get_submodule(self.stem_name)(x)  # (B, N, D)
        return Stem(self.pos_embedding_helper(prepend_tokens(tokens, self.cls_token)))


class VisionPreprocessor(PatchPreprocessor):
    """Images (N, 3, S, S) or clips (N, 3, T, S, S); square sizes other than trained are resized."""

    def __init__(self, cfg: VisionConfig) -> None:
        clip_shape = (3, cfg.frames, cfg.image_size, cfg.image_size)
        grid = conv_grid(clip_shape[1:], cfg.kernel, cfg.kernel)
        stem = video_patch_embed(3, cfg.width, cfg.kernel, cfg.frames)
        super().__init__("vision", "rgbt_stem", stem, math.prod(grid), cfg.width, clip_shape)
        self.patch = cfg.kernel[1:]

    def check_input(self, x: torch.Tensor) -> None:
        frames = self.clip_shape[1]
        frames_ok = x.ndim == 4 or (x.ndim == 5 and x.shape[2] in (1, frames))
        h, w = x.shape[-2:]
        ph, pw = self.patch
        if x.ndim < 4 or x.shape[1] != 3 or not frames_ok or h != w or h % ph or w % pw:
            raise BadInput(
                f"vision input must have shape (N, 3, S, S) or (N, 3, {frames}, S, S) with S a "
                f"multiple of {ph} (trained S={self.clip_shape[-1]}), got {tuple(x.shape)}"
            )


def audio_preprocessor(cfg: AudioTrunkConfig) -> PatchPreprocessor:
    """Log-mel clips (N, 1, mel_bins, frames) -> overlapping patches."""
    size = (cfg.mel_bins, cfg.frames)
    grid = conv_grid(size, (cfg.kernel,) * 2, (cfg.stride,) * 2)
    stem = conv_patch_embed(1, cfg.width, cfg.kernel, cfg.stride, norm_eps=STEM_NORM_EPS)
    return PatchPreprocessor("audio", "rgbt_stem", stem, math.prod(grid), cfg.width, (1, *size))


def map_preprocessor(name: str, stem_name: str) -> Callable[[MapConfig], PatchPreprocessor]:
    """Builder of a single-channel map preprocessor (depth, thermal) of fixed size."""

    def build(cfg: MapConfig) -> PatchPreprocessor:
        size = (cfg.image_size, cfg.image_size)
        grid = conv_grid(size, (cfg.kernel,) * 2, (cfg.kernel,) * 2)
        stem = conv_patch_embed(1, cfg.width, cfg.kernel, cfg.kernel, norm_eps=STEM_NORM_EPS)
        return PatchPreprocessor(name, stem_name, stem, math.prod(grid), cfg.width, (1, *size))

    return build


class TextPreprocessor(nn.Module):
    """Token ids (N, context_length) -> embeddings + positions, a causal mask, the EOT positions.

    The end-of-text token has the highest id, so its position is `ids.argmax(-1)`.
    """

    def __init__(self, cfg: TextTrunkConfig) -> None:
        super().__init__()
        n = cfg.context_length
        self.context_length = n
        self.pos_embed = nn.Parameter(torch.zeros(1, n, cfg.width))
        self.register_buffer("mask", torch.full((n, n), float("-inf")).triu_(1))  # (L, L)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Token table ~ N(0, 0.02), positions ~ N(0, 0.01) (the reference init)."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.01)

    def forward(self, ids: torch.Tensor) -> Stem:
        check_shape("text", ids, (self.context_length,))
        if ids.is_floating_point() or ids.is_complex():
            raise BadInput(f"text input must hold integer token ids, got {ids.dtype}")
        tokens = self.token_embedding(ids) + self.pos_embed  # (B, L, D)
        index = ids.argmax(dim=-1)  # (B,) end-of-text positions
        return Stem(tokens, attn_mask=self.mask, head_kwargs={"index": index}, causal=True)


class ImuPreprocessor(nn.Module):
    """Signals (N, channels, length) -> windows -> prepend cls -> add learned positions."""

    def __init__(self, cfg: ImuTrunkConfig) -> None:
        super().__init__()
        self.shape = (cfg.channels, cfg.length)
        num_tokens = cfg.length // cfg.kernel + 1
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, cfg.width))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        norm = nn.LayerNorm(cfg.width, eps=STEM_NORM_EPS)
        self.imu_stem = UnfoldPatchEmbed(cfg.channels, cfg.kernel, cfg.width, norm)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Positions ~ N(0, 0.01), cls token ~ N(0, 1/D) (the reference init)."""
        nn.init.normal_(self.pos_embed, std=0.01)
        nn.init.normal_(self.cls_token, std=self.cls_token.shape[-1] ** -0.5)

    def forward(self, x: torch.Tensor) -> Stem:
        check_shape("imu", x, self.shape)
        return Stem(prepend_tokens(self.imu_stem(x), self.cls_token) + self.pos_embed)


PREPROCESSORS: dict[str, Callable] = {
    "vision": VisionPreprocessor,
    "text": TextPreprocessor,
    "audio": audio_preprocessor,
    "depth": map_preprocessor("depth", "depth_stem"),
    "thermal": map_preprocessor("thermal", "rgbt_stem"),
    "imu": ImuPreprocessor,
}
"""Reference modality name -> builder taking that tower's config."""
