"""LanguageBind-compatible towers (Zhu et al., ICLR 2024): CLIP text and CLIP ViT modality towers."""

from openbind.encoders.languagebind.config import (
    MODEL_TYPES,
    LanguageBindConfig,
    LoraSpec,
    TextSpec,
    VisionSpec,
)
from openbind.encoders.languagebind.towers import (
    ClipTextTower,
    ClipVisionTower,
    TemporalBlock,
)

__all__ = [
    "MODEL_TYPES",
    "ClipTextTower",
    "ClipVisionTower",
    "LanguageBindConfig",
    "LoraSpec",
    "TemporalBlock",
    "TextSpec",
    "VisionSpec",
]
