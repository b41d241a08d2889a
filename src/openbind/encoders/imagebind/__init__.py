"""ImageBind-compatible towers (Girdhar et al., 2023) with the official checkpoint layout."""

from openbind.encoders.imagebind.config import (
    TOWER_NAMES,
    AudioTrunkConfig,
    ImageBindConfig,
    ImuTrunkConfig,
    MapConfig,
    TextTrunkConfig,
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
    "AudioTrunkConfig",
    "ImageBindConfig",
    "ImageBindModel",
    "ImageBindTower",
    "ImuTrunkConfig",
    "MapConfig",
    "TextTrunkConfig",
    "TrunkConfig",
    "VisionConfig",
    "imagebind_key_prefixes",
    "imagebind_name",
]
