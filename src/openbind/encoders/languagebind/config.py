"""Configuration of LanguageBind-compatible towers, read from a Hugging Face `config.json`.

Zhu et al., 2024, "LanguageBind: Extending Video-Language Pretraining to N-modality by
Language-based Semantic Alignment" (ICLR). A published checkpoint is one Hugging Face folder per
modality (`LanguageBind/LanguageBind_<X>`): a CLIP text tower (the frozen anchor, identical in all
of them) plus one CLIP ViT tower for that modality. `LanguageBindConfig.from_hf` reads the fields
that shape the towers; every other field of the (very long) published file is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openbind.errors import ConfigError

__all__ = ["MODEL_TYPES", "LanguageBindConfig", "LoraSpec", "TextSpec", "VisionSpec"]

MODEL_TYPES = {
    "LanguageBindImage": "image",
    "LanguageBindVideo": "video",
    "LanguageBindAudio": "audio",
    "LanguageBindDepth": "depth",
    "LanguageBindThermal": "thermal",
}
"""`model_type` of a published config -> the openbind modality of its vision tower."""

_ACTIVATIONS = ("gelu",)


@dataclass(frozen=True)
class TextSpec:
    """The CLIP text transformer (causal, pooled at the first end-of-text token).

    Attributes:
        vocab_size: token table rows.
        width: token width D.
        layers: transformer blocks.
        heads: attention heads.
        mlp: MLP hidden width.
        context_length: positions (77).
        eps: LayerNorm epsilon.
    """

    vocab_size: int = 49408
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp: int = 3072
    context_length: int = 77
    eps: float = 1e-5


@dataclass(frozen=True)
class VisionSpec:
    """A CLIP ViT tower and its input geometry.

    Attributes:
        width: token width D.
        layers: transformer blocks.
        heads: attention heads.
        mlp: MLP hidden width.
        patch: patch side (kernel = stride).
        input_size: (height, width) of the input; audio is (mel bins, frames).
        channels: input channels (3; audio's three mel chunks are channels too).
        frames: frames per clip (8 for video, 1 otherwise).
        temporal: a temporal attention before every block (LanguageBind video).
        tube: V1.5 video (`clip_type "vl_new"`): a Conv3d patch embedding with a time kernel of 1
            and one class embedding per frame.
        eps: LayerNorm epsilon.
    """

    width: int = 1024
    layers: int = 24
    heads: int = 16
    mlp: int = 4096
    patch: int = 14
    input_size: tuple[int, int] = (224, 224)
    channels: int = 3
    frames: int = 1
    temporal: bool = False
    tube: bool = False
    eps: float = 1e-5

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (rows, columns)."""
        return (self.input_size[0] // self.patch, self.input_size[1] // self.patch)

    @property
    def num_positions(self) -> int:
        """Rows of the position table: the class token plus one per patch."""
        rows, cols = self.grid
        return 1 + rows * cols


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapters a checkpoint was saved with (peft layout), r = 0 for none."""

    rank: int = 0
    alpha: float = 16.0

    @property
    def scale(self) -> float:
        return self.alpha / self.rank if self.rank else 0.0


@dataclass(frozen=True)
class LanguageBindConfig:
    """One LanguageBind checkpoint: its modality, text and vision towers, joint dimension.

    Attributes:
        modality: openbind modality of the vision tower ("image", "video", "audio", ...).
        text: the text tower.
        vision: the modality tower.
        dim: joint embedding dimension (`projection_dim`).
        lora: adapters stored unmerged in the checkpoint (peft key names).
        lora_targets: which projections have them: "attention" (all q/k/v/out of the vision
            encoder) or "temporal" (video: only the temporal attention).
        extra: modality settings of the published config (audio mean/std, `max_depth`, ...).
    """

    modality: str
    text: TextSpec
    vision: VisionSpec
    dim: int
    lora: LoraSpec = LoraSpec()
    lora_targets: str = "attention"
    extra: Mapping[str, Any] | None = None

    @classmethod
    def from_hf(cls, data: Mapping[str, Any], source: str = "config.json") -> LanguageBindConfig:
        """Read a published (or golden tiny) LanguageBind `config.json`.

        Raises:
            ConfigError: not a LanguageBind config, or a field is missing or unsupported; the
                message names `source` and the field.
        """
        model_type = data.get("model_type")
        if model_type not in MODEL_TYPES:
            raise ConfigError(
                f"{source}: model_type {model_type!r} is not a LanguageBind model; "
                f"expected one of {sorted(MODEL_TYPES)}"
            )
        modality = MODEL_TYPES[model_type]
        t = _section(data, "text_config", source)
        v = _section(data, "vision_config", source)
        for name, section in (("text_config", t), ("vision_config", v)):
            act = section.get("hidden_act", "gelu")
            if act not in _ACTIVATIONS:
                raise ConfigError(
                    f"{source}: {name}.hidden_act {act!r} is not supported (only {_ACTIVATIONS})"
                )
        text = TextSpec(
            vocab_size=_int(t, "vocab_size", source, 49408),
            width=_int(t, "hidden_size", source, 512),
            layers=_int(t, "num_hidden_layers", source, 12),
            heads=_int(t, "num_attention_heads", source, 8),
            mlp=_int(t, "intermediate_size", source, 2048),
            context_length=_int(t, "max_position_embeddings", source, 77),
            eps=float(t.get("layer_norm_eps", 1e-5)),
        )
        size = v.get("image_size", 224)
        if isinstance(size, (list, tuple)):  # what the repo's resize_pos writes back
            size = size[0]
        input_size = (int(size), int(size))
        if modality == "audio":
            input_size = (_int(v, "num_mel_bins", source, 112), _int(v, "target_length", source))
        temporal = modality == "video" and bool(v.get("add_time_attn", True))
        vision = VisionSpec(
            width=_int(v, "hidden_size", source, 768),
            layers=_int(v, "num_hidden_layers", source, 12),
            heads=_int(v, "num_attention_heads", source, 12),
            mlp=_int(v, "intermediate_size", source, 3072),
            patch=_int(v, "patch_size", source, 32),
            input_size=input_size,
            channels=_int(v, "num_channels", source, 3),
            frames=_int(v, "num_frames", source, 8) if modality == "video" else 1,
            temporal=temporal,
            tube=modality == "video" and v.get("clip_type") == "vl_new",
            eps=float(v.get("layer_norm_eps", 1e-5)),
        )
        for name, (dim, heads) in {
            "text_config": (text.width, text.heads),
            "vision_config": (vision.width, vision.heads),
        }.items():
            if dim % heads:
                raise ConfigError(f"{source}: {name}.hidden_size {dim} not divisible by {heads}")
        if vision.input_size[0] % vision.patch or vision.input_size[1] % vision.patch:
            raise ConfigError(
                f"{source}: input size {vision.input_size} is not a multiple of patch_size "
                f"{vision.patch}"
            )
        # The repo's CLIPVisionConfig defaults to lora_r=2: a config without it was saved with
        # adapters (and peft key names).
        rank = _int(v, "lora_r", source, 2)
        extra = {
            k: v[k]
            for k in ("audio_mean", "audio_std", "audio_sample_rate", "max_depth", "num_mel_bins")
            if k in v
        }
        return cls(
            modality=modality,
            text=text,
            vision=vision,
            dim=_int(data, "projection_dim", source, 512),
            lora=LoraSpec(rank, float(v.get("lora_alpha", 16))),
            lora_targets="temporal" if modality == "video" else "attention",
            extra=extra,
        )


def _section(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    section = data.get(name)
    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: missing the {name!r} section")
    return section


def _int(data: Mapping[str, Any], key: str, source: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{source}: {key} must be a non-negative integer, got {value!r}")
    return value
