"""Patch embeddings: turn images, clips, spectrograms and signals into token sequences.

Vision Transformer patchify (Dosovitskiy et al., 2021); the 3-D variant with a repeated image
follows ImageBind (Girdhar et al., 2023), which embeds an image as a two-frame still video.
"""

from __future__ import annotations

import torch
from torch import nn


class PadIm2Video(nn.Module):
    """Make a still video of an image: (B, C, H, W) or (B, C, 1, H, W) -> (B, C, T, H, W).

    The frame is repeated `frames` times; inputs that already have several frames pass unchanged.

    Args:
        frames: number of frames of the still video.
    """

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames = frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = x.unsqueeze(2)  # (B, C, 1, H, W)
        if x.shape[2] == 1:
            x = x.repeat(1, 1, self.frames, 1, 1)  # (B, C, T, H, W)
        return x

    def extra_repr(self) -> str:
        return f"frames={self.frames}"


class PatchEmbed(nn.Module):
    """A convolutional stem: `proj` maps (B, C, *size) to (B, D, *grid), flattened to tokens.

    Args:
        proj: the convolution (possibly preceded by shape adapters such as `PadIm2Video`).
        norm_layer: optional norm of the (B, N, D) tokens.
    """

    def __init__(self, proj: nn.Module, norm_layer: nn.Module | None = None) -> None:
        super().__init__()
        self.proj = proj
        self.norm_layer = norm_layer if norm_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x).flatten(2).transpose(1, 2)  # (B, D, *grid) -> (B, N, D)
        return self.norm_layer(x)


class UnfoldPatchEmbed(nn.Module):
    """Cut (B, C, T) signals into T // k windows of k samples and project each to D.

    Token t holds `[ch0[kt:kt+k], ch1[kt:kt+k], ...]` (channel-major), projected without bias.

    Args:
        channels: C.
        kernel: window length k (windows do not overlap).
        dim: token width D.
        norm_layer: optional norm of the tokens.
    """

    def __init__(
        self, channels: int, kernel: int, dim: int, norm_layer: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.kernel = kernel
        self.proj = nn.Linear(channels * kernel, dim, bias=False)
        self.norm_layer = norm_layer if norm_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        n = t // self.kernel
        # = x.unfold(-1, k, k) for windows that do not overlap; a reshape also exports to ONNX
        x = x[..., : n * self.kernel].reshape(b, c, n, self.kernel)  # (B, C, N, k)
        x = x.permute(0, 2, 1, 3).reshape(b, n, c * self.kernel)  # (B, N, C*k)
        return self.norm_layer(self.proj(x))


def video_patch_embed(
    in_channels: int, dim: int, kernel: tuple[int, int, int], frames: int
) -> PatchEmbed:
    """Conv3d patchify (kernel = stride, no bias) of clips; images become `frames`-frame stills."""
    conv = nn.Conv3d(in_channels, dim, kernel_size=kernel, stride=kernel, bias=False)
    return PatchEmbed(nn.Sequential(PadIm2Video(frames), conv))


def conv_patch_embed(
    in_channels: int, dim: int, kernel: int, stride: int, *, norm_eps: float | None = 1e-5
) -> PatchEmbed:
    """Conv2d patchify (no bias) followed by a LayerNorm of the tokens (None: no norm)."""
    conv = nn.Conv2d(in_channels, dim, kernel_size=kernel, stride=stride, bias=False)
    norm = nn.LayerNorm(dim, eps=norm_eps) if norm_eps is not None else None
    return PatchEmbed(conv, norm)


def conv_grid(
    size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]
) -> tuple[int, ...]:
    """Output grid of an unpadded convolution: `(n - k) // s + 1` per axis."""
    return tuple((n - k) // s + 1 for n, k, s in zip(size, kernel, stride, strict=True))
