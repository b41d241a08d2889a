"""Small towers that openbind trains from scratch, with the transform that feeds each.

They are the student towers of the recipes (the starter's audio tower, the generated-world
benchmark): small enough to train on a CPU in minutes. Each follows the tower contract of
`openbind.encoders.base` ((N, *input) -> (N, D) features) and each kind pairs an architecture
with the transform that makes its input from an item:

| kind       | input (per item)              | architecture                                         |
|------------|-------------------------------|------------------------------------------------------|
| mel_audio  | (1, mels, frames) log-mel clip | conv stages (GroupNorm, ReLU, pool) -> mean over time/freq -> linear |
| wave_audio | (samples,) mono waveform      | log-spectrogram stem (STFT, fixed) -> the same conv stages     |
| conv_image | (3, S, S) normalised RGB      | the same conv stages                                  |
| token_text | (L,) CLIP BPE ids             | embedding (ids hashed into `vocab_size`) -> masked mean -> MLP |
| clip_vit   | (3, S, S) CLIP-normalised RGB | a LanguageBind / CLIP ViT (`encoders.languagebind`): `len(widths)` blocks of width `widths[-1]`, `patch` x `patch` patches |
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from openbind.config import from_dict
from openbind.errors import WeightsError
from openbind.preprocess.common import Transform
from openbind.types import Modality


@dataclass(frozen=True)
class TowerConfig:
    """A tower that openbind builds (and usually trains): built by `build_tower` below.

    Attributes:
        kind: the architecture, one of `KINDS`.
        widths: channel widths of the convolution stages (conv kinds) or hidden width (text).
        vocab_size: hashed-word vocabulary of the text kind.
        sample_rate: audio rate of the audio kinds.
        seconds: audio length per clip (waveform kind: cropped or zero-padded; mel kind: clip).
        mel_bins: mel filters of the mel kind (`openbind.preprocess.audio.AudioConfig`).
        frames: frames per clip of the mel kind (10 ms each).
        image_size: square input size of the image kinds.
        patch: patch side of the clip_vit kind.
    """

    kind: str = "mel_audio"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    vocab_size: int = 4096
    sample_rate: int = 16000
    seconds: float = 2.0
    mel_bins: int = 128
    frames: int = 204
    image_size: int = 64
    patch: int = 8


class ConvTrunk(nn.Module):
    """Conv stages (3x3 conv, GroupNorm, ReLU, 2x2 max-pool) -> global mean -> linear to `dim`.

    GroupNorm rather than BatchNorm: the features of a sample do not depend on the rest of its
    batch, so DDP ranks with half the batch compute exactly what one process computes.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [
                nn.Conv2d(c, w, 3, padding=1, bias=False),
                nn.GroupNorm(min(8, w), w),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c = w
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(c, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)  # (N, C, H', W')
        return self.head(x.mean(dim=(2, 3)))  # (N, D)


class LogSpectrogram(nn.Module):
    """Fixed (non-learned) log-magnitude STFT with adjacent frequency bins averaged in pairs:
    (N, samples) -> (N, 1, n_fft // 4, samples // hop + 1)."""

    def __init__(self, n_fft: int = 256, hop: int = 256) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wave.float(), self.n_fft, self.hop, window=self.window, return_complex=True
        )  # (N, n_fft // 2 + 1, T)
        mag = torch.log1p(spec.abs())[:, : self.n_fft // 2]  # drop the Nyquist bin
        return F.avg_pool1d(mag.transpose(1, 2), 2).transpose(1, 2).unsqueeze(1)  # (N, 1, F, T)


class SmallTower(nn.Module):
    """A small tower: an optional fixed stem, then a trunk, with the tower attributes `SpaceModel` reads.

    Args:
        modality: what it embeds.
        trunk: maps (N, *input) to (N, dim).
        dim: output dimension.
        stem: fixed front end applied first (e.g. `LogSpectrogram`), or None.
        logit_scale: the temperature it was trained with (reported to `SpaceModel`).
    """

    def __init__(
        self,
        modality: Modality,
        trunk: nn.Module,
        dim: int,
        stem: nn.Module | None = None,
        logit_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.modality = modality
        self.out_dim = dim
        self.stem = stem if stem is not None else nn.Identity()
        self.trunk = trunk
        self._logit_scale = logit_scale

    @property
    def logit_scale(self) -> float:
        return self._logit_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.stem(x))


class TokenTrunk(nn.Module):
    """Token ids (N, L) -> embedding (ids mod `vocab_size`, 0 = padding) -> masked mean -> MLP."""

    def __init__(self, vocab_size: int, width: int, dim: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, width, padding_idx=0)
        self.mlp = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, dim)
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids > 0).unsqueeze(-1).float()  # (N, L, 1)
        hashed = torch.where(ids > 0, ids % (self.vocab_size - 1) + 1, 0)
        x = (self.embed(hashed) * mask).sum(1) / mask.sum(1).clamp(min=1)  # (N, width)
        return self.mlp(x)


def _image_transform(cfg: TowerConfig) -> Transform:
    from openbind.preprocess.image import ImageConfig, ImageTransform

    size = cfg.image_size
    return ImageTransform(
        ImageConfig(size=size, crop_size=size, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    )


def _text_transform(cfg: TowerConfig) -> Transform:
    from openbind.preprocess.text import TextConfig, TextTransform

    return TextTransform(TextConfig(context_length=32))


def _waveform_transform(cfg: TowerConfig) -> Transform:
    from openbind.data.audio import WaveformTransform

    return WaveformTransform(cfg.sample_rate, cfg.seconds)


def _mel_transform(cfg: TowerConfig) -> Transform:
    from openbind.preprocess.audio import AudioConfig, AudioTransform

    return AudioTransform(
        AudioConfig(
            sample_rate=cfg.sample_rate,
            clip_duration_s=cfg.seconds,
            clips=1,
            num_mel_bins=cfg.mel_bins,
            target_length=cfg.frames,
        )
    )


def _clip_vit(m: Modality, cfg: TowerConfig, dim: int) -> nn.Module:
    from openbind.encoders.languagebind import ClipVisionTower, VisionSpec

    width = cfg.widths[-1]
    spec = VisionSpec(
        width=width,
        layers=len(cfg.widths),
        heads=max(1, width // 32),
        mlp=4 * width,
        patch=cfg.patch,
        input_size=(cfg.image_size, cfg.image_size),
    )
    return ClipVisionTower(spec, dim, m)


def _clip_image_transform(cfg: TowerConfig) -> Transform:
    from openbind.preprocess.image import ImageConfig, ImageTransform

    return ImageTransform(ImageConfig(size=cfg.image_size, crop_size=cfg.image_size))


@dataclass(frozen=True)
class TowerKind:
    """One small-tower architecture: how to build its module and its preprocessing.

    Attributes:
        tower: (modality, config, dim) -> randomly initialised tower.
        transform: config -> item -> (S, *input) clips (decoding included).
    """

    tower: Callable[[Modality, TowerConfig, int], nn.Module]
    transform: Callable[[TowerConfig], Transform]


KINDS: dict[str, TowerKind] = {
    "mel_audio": TowerKind(
        lambda m, cfg, dim: SmallTower(m, ConvTrunk(1, cfg.widths, dim), dim), _mel_transform
    ),
    "wave_audio": TowerKind(
        lambda m, cfg, dim: SmallTower(
            m, ConvTrunk(1, cfg.widths, dim), dim, stem=LogSpectrogram()
        ),
        _waveform_transform,
    ),
    "conv_image": TowerKind(
        lambda m, cfg, dim: SmallTower(m, ConvTrunk(3, cfg.widths, dim), dim), _image_transform
    ),
    "token_text": TowerKind(
        lambda m, cfg, dim: SmallTower(m, TokenTrunk(cfg.vocab_size, cfg.widths[-1], dim), dim),
        _text_transform,
    ),
    "clip_vit": TowerKind(_clip_vit, _clip_image_transform),
}
"""The small-tower kinds by name; add an entry to add a kind."""


def _kind(cfg: TowerConfig) -> TowerKind:
    if cfg.kind not in KINDS:
        raise ValueError(f"unknown tower kind {cfg.kind!r}; valid: {', '.join(KINDS)}")
    return KINDS[cfg.kind]


def build_tower(modality: Modality | str, cfg: TowerConfig, dim: int) -> SmallTower:
    """The tower of `cfg.kind` for `modality`, randomly initialised.

    Raises:
        ValueError: unknown kind (the valid ones are listed).
    """
    return _kind(cfg).tower(Modality.parse(modality), cfg, dim)


def build_transform(cfg: TowerConfig) -> Transform:
    """Item -> (S, *input) clips for a tower of `cfg.kind` (decoding included).

    Raises:
        ValueError: unknown kind (the valid ones are listed).
    """
    return _kind(cfg).transform(cfg)


def save_tower(
    tower: SmallTower, cfg: TowerConfig, prefix: Path, *, logit_scale: float = 1.0
) -> list[Path]:
    """Write `prefix.safetensors` (weights) and `prefix.json` (the builder that loads them, with
    the tower config, modality, dim and temperature as its options)."""
    from safetensors.torch import save_file

    prefix.parent.mkdir(parents=True, exist_ok=True)
    weights = prefix.with_name(prefix.name + ".safetensors")
    meta = prefix.with_name(prefix.name + ".json")
    state = {k: v.detach().contiguous() for k, v in tower.state_dict().items()}
    save_file(state, str(weights))
    info = {
        "builder": "openbind.encoders.small:load_tower",
        "options": {
            "tower": dataclasses.asdict(cfg),
            "modality": tower.modality.value,
            "dim": tower.out_dim,
            "logit_scale": logit_scale,
        },
    }
    meta.write_text(json.dumps(info, indent=1) + "\n")
    return [weights, meta]


def load_tower(
    state: dict[str, torch.Tensor],
    *,
    tower: dict[str, Any],
    modality: str,
    dim: int,
    logit_scale: float = 1.0,
) -> tuple[SmallTower, Transform]:
    """A tower written by `save_tower` and its inference transform (the builder named in the
    `.json` sidecar, as `openbind.zoo.starter.optional_tower` calls it).

    Audio is cut into clips every `seconds` over the whole recording (at most 8, evenly spread
    beyond that), embedded one by one and averaged by the space.

    Raises:
        WeightsError: the weights do not fit the config.
    """
    cfg = from_dict(TowerConfig, tower)
    model = build_tower(modality, cfg, dim)
    model._logit_scale = logit_scale
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise WeightsError(f"{modality} tower weights do not fit its config: {e}") from None
    transform = build_transform(cfg)
    if cfg.kind == "mel_audio":
        from openbind.preprocess.audio import AudioTransform

        transform = AudioTransform(
            dataclasses.replace(transform.config, clip_stride_s=cfg.seconds, max_clips=8)
        )
    return model.eval(), transform
