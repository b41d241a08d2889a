"""Configuration of an ImageBind-compatible model (Girdhar et al., 2023, "ImageBind: One
Embedding Space To Bind Them All", CVPR).

One frozen dataclass per tower holds its trunk size (width, blocks, heads, drop path) and its
input geometry; `ImageBindConfig` groups the six towers and the shared output width. The defaults
are `imagebind_huge`; `ImageBindConfig.small()` is the tiny model of the golden test data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openbind.errors import ConfigError
from openbind.preprocess.audio import AudioConfig
from openbind.preprocess.imu import ImuConfig
from openbind.preprocess.text import TextConfig

# The input geometry of the text, audio and IMU trunks defaults to what the preprocessing
# produces: the preprocessing configs are the one home of these numbers.
_TEXT, _AUDIO, _IMU = TextConfig(), AudioConfig(), ImuConfig()


@dataclass(frozen=True)
class TrunkConfig:
    """Size of a tower's transformer.

    Attributes:
        width: token width D.
        blocks: number of transformer blocks.
        heads: attention heads (D must be divisible by it).
        drop_path: stochastic-depth rate of the last block (training only).
    """

    width: int
    blocks: int
    heads: int
    drop_path: float = 0.0


@dataclass(frozen=True)
class VisionConfig(TrunkConfig):
    """Images and video clips: Conv3d patches over `frames` frames (images are repeated).

    Attributes:
        image_size: side of the square input the position table is trained for.
        frames: frames per clip (an image is repeated to this many).
        kernel: (time, height, width) patch size; the stride equals it.
    """

    width: int = 1280
    blocks: int = 32
    heads: int = 16
    image_size: int = 224
    frames: int = 2
    kernel: tuple[int, int, int] = (2, 14, 14)


@dataclass(frozen=True)
class TextTrunkConfig(TrunkConfig):
    """CLIP-BPE token ids with a causal mask, pooled at the end-of-text token.

    Attributes:
        vocab_size: size of the token table.
        context_length: tokens per text (inputs must have exactly this length).
    """

    width: int = 1024
    blocks: int = 24
    heads: int = 16
    vocab_size: int = 49408
    context_length: int = _TEXT.context_length


@dataclass(frozen=True)
class AudioTrunkConfig(TrunkConfig):
    """Log-mel spectrogram clips, cut into overlapping square patches.

    Attributes:
        mel_bins: spectrogram height.
        frames: spectrogram width (time frames per clip).
        kernel: patch side.
        stride: patch stride (smaller than `kernel`: patches overlap).
    """

    width: int = 768
    blocks: int = 12
    heads: int = 12
    drop_path: float = 0.1
    mel_bins: int = _AUDIO.num_mel_bins
    frames: int = _AUDIO.target_length
    kernel: int = 16
    stride: int = 10


@dataclass(frozen=True)
class MapConfig(TrunkConfig):
    """Single-channel maps (depth, thermal) cut into non-overlapping square patches.

    Attributes:
        image_size: input side.
        kernel: patch side (= stride).
    """

    width: int = 768
    blocks: int = 12
    heads: int = 12
    image_size: int = 224
    kernel: int = 16


@dataclass(frozen=True)
class ImuTrunkConfig(TrunkConfig):
    """Inertial signals (accelerometer xyz + gyroscope xyz) cut into windows.

    Attributes:
        channels: signal channels.
        length: samples per clip.
        kernel: samples per window (token).
    """

    width: int = 512
    blocks: int = 6
    heads: int = 8
    drop_path: float = 0.7
    channels: int = 6
    length: int = _IMU.num_samples
    kernel: int = 8


@dataclass(frozen=True)
class ImageBindConfig:
    """The six towers and the width of the shared space (defaults: `imagebind_huge`).

    Attributes:
        out_dim: dimension of the joint embedding space.
        vision, text, audio, depth, thermal, imu: per-tower settings.
    """

    out_dim: int = 1024
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextTrunkConfig = field(default_factory=TextTrunkConfig)
    audio: AudioTrunkConfig = field(default_factory=AudioTrunkConfig)
    depth: MapConfig = field(default_factory=lambda: MapConfig(width=384, heads=8))
    thermal: MapConfig = field(default_factory=MapConfig)
    imu: ImuTrunkConfig = field(default_factory=ImuTrunkConfig)

    def tower(self, name: str) -> TrunkConfig:
        """The settings of the tower `name` ("vision", "text", "audio", "depth", "thermal", "imu")."""
        return getattr(self, name)

    @classmethod
    def huge(cls) -> ImageBindConfig:
        """`imagebind_huge`: 1,200,781,057 parameters, 1024-d space."""
        return cls()

    @classmethod
    def small(cls) -> ImageBindConfig:
        """The 4.6 M-parameter model of the golden test data (same structure as huge, 2 blocks)."""
        return cls(
            out_dim=64,
            vision=VisionConfig(width=128, blocks=2, heads=4),
            text=TextTrunkConfig(width=64, blocks=2, heads=4),
            audio=AudioTrunkConfig(width=96, blocks=2, heads=4, drop_path=0.1),
            depth=MapConfig(width=64, blocks=2, heads=2),
            thermal=MapConfig(width=80, blocks=2, heads=4),
            imu=ImuTrunkConfig(width=72, blocks=2, heads=3, drop_path=0.7),
        )

    @classmethod
    def from_reference_kwargs(cls, kwargs: dict[str, Any]) -> ImageBindConfig:
        """Translate the keyword arguments of the reference `ImageBindModel` constructor.

        Arguments left out take the reference constructor's defaults, except the sizes that
        `imagebind_huge` overrides, which are required (`_REFERENCE_REQUIRED`). The reference ignores
        `imu_kernel_size` (it always uses 8); here it sets the IMU window.

        Raises:
            ConfigError: an unknown argument, or a required one is missing.
        """
        unknown = sorted(set(kwargs) - set(_REFERENCE_DEFAULTS) - set(_REFERENCE_REQUIRED))
        missing = sorted(set(_REFERENCE_REQUIRED) - set(kwargs))
        if unknown or missing:
            raise ConfigError(
                f"ImageBindModel arguments: unknown {unknown}, missing {missing} "
                f"(required: {list(_REFERENCE_REQUIRED)})"
            )
        args = {**_REFERENCE_DEFAULTS, **kwargs}

        def trunk(prefix: str) -> dict[str, Any]:
            return {
                "width": args[f"{prefix}_embed_dim"],
                "blocks": args[f"{prefix}_num_blocks"],
                "heads": args[f"{prefix}_num_heads"],
                "drop_path": args.get(f"{prefix}_drop_path", 0.0),
            }

        return cls(
            out_dim=args["out_embed_dim"],
            vision=VisionConfig(
                **trunk("vision"), frames=args["video_frames"], kernel=tuple(args["kernel_size"])
            ),
            text=TextTrunkConfig(**trunk("text")),
            audio=AudioTrunkConfig(
                **trunk("audio"),
                mel_bins=args["audio_num_mel_bins"],
                frames=args["audio_target_len"],
                kernel=args["audio_kernel_size"],
                stride=args["audio_stride"],
            ),
            depth=MapConfig(**trunk("depth"), kernel=args["depth_kernel_size"]),
            thermal=MapConfig(**trunk("thermal"), kernel=args["thermal_kernel_size"]),
            imu=ImuTrunkConfig(**trunk("imu"), kernel=args["imu_kernel_size"]),
        )


# Arguments that `imagebind_huge` sets explicitly; their constructor defaults are not needed.
_REFERENCE_REQUIRED: tuple[str, ...] = (
    "out_embed_dim",
    "vision_embed_dim",
    "vision_num_blocks",
    "vision_num_heads",
    "text_embed_dim",
    "text_num_blocks",
    "text_num_heads",
    "audio_drop_path",
    "imu_drop_path",
)

# The other defaults of the reference `ImageBindModel.__init__`.
_REFERENCE_DEFAULTS: dict[str, Any] = {
    "video_frames": 2,
    "kernel_size": (2, 14, 14),
    "audio_kernel_size": 16,
    "audio_stride": 10,
    "audio_embed_dim": 768,
    "audio_num_blocks": 12,
    "audio_num_heads": 12,
    "audio_num_mel_bins": 128,
    "audio_target_len": 204,
    "depth_embed_dim": 384,
    "depth_kernel_size": 16,
    "depth_num_blocks": 12,
    "depth_num_heads": 8,
    "depth_drop_path": 0.0,
    "thermal_embed_dim": 768,
    "thermal_kernel_size": 16,
    "thermal_num_blocks": 12,
    "thermal_num_heads": 12,
    "thermal_drop_path": 0.0,
    "imu_embed_dim": 512,
    "imu_kernel_size": 8,
    "imu_num_blocks": 6,
    "imu_num_heads": 8,
}

TOWER_NAMES: tuple[str, ...] = ("vision", "text", "audio", "depth", "thermal", "imu")
"""The reference's modality names, in checkpoint order."""
