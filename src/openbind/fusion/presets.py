"""FreeBind's named factor presets (plain data: importing this module imports no torch)."""

from __future__ import annotations

from openbind.types import Modality

PRESETS: dict[str, dict[Modality, float]] = {
    "versatile": {Modality.TEXT: 0.1, Modality.AUDIO: 0.5},
    "at_expertise": {Modality.TEXT: 0.5, Modality.AUDIO: 0.8},
}
"""Combination-bond factors (weight on the projected expert) published with FreeBind (README,
`inference.py`): "Versatile" keeps the unified space's image-text strength; "AT Expertise"
(audio-text expertise) leans on the expert. Modalities a preset does not name keep the bond's
own factor."""

PRESET_TITLES = {"versatile": "Versatile", "at_expertise": "AT Expertise"}
