"""ImageBind-compatible towers (Girdhar et al., 2023) with the official checkpoint layout."""

from openbind.encoders.imagebind.config import (
    TOWER_NAMES,
    AudioConfig,
    ImageBindConfig,
    ImuConfig,
    MapConfig,
    TextConfig,
    TrunkConfig,
    VisionConfig,
)
from openbind.encoders.imagebind.model import (
    IMAGEBIND_NAMES,
    ImageBindModel,
    ImageBindTower,
    imagebind_key_prefixes,
    imagebind_name,
)

__all__ = [
    "IMAGEBIND_NAMES",
    "TOWER_NAMES",
    "AudioConfig",
    "ImageBindConfig",
    "ImageBindModel",
    "ImageBindTower",
    "ImuConfig",
    "MapConfig",
    "TextConfig",
    "TrunkConfig",
    "VisionConfig",
    "imagebind_key_prefixes",
    "imagebind_name",
]
