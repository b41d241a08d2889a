"""FreeBind fusion: bind expert spaces onto a unified space with projectors and space bonds.

    >>> from openbind.fusion import FusedSpace, combination, PRESETS
    >>> fused = FusedSpace(base, {"speaker": expert}, [combination("speaker", proj, "versatile")])

The fused space is an `openbind.Space`; `FusedSpace.save(folder)` / `load_fused(folder)` store it
as a folder. Heavy modules (torch) load on first use of a name other than `PRESETS`.
"""

from __future__ import annotations

import importlib
from typing import Any

from openbind.fusion.presets import PRESET_TITLES, PRESETS

_LAZY = {
    "Projector": "projector",
    "MixtureOfProjectors": "projector",
    "import_freebind_head": "projector",
    "export_freebind_head": "projector",
    "load_freebind_mixture": "projector",
    "FREEBIND_MODES": "projector",
    "Bond": "bonds",
    "combination": "bonds",
    "displacement": "bonds",
    "check_factors": "bonds",
    "DEFAULT_FACTORS": "bonds",
    "FusedSpace": "fused",
    "MissingComponentSpace": "fused",
    "load_fused": "fused",
    "FusionCard": "cards",
    "CARDS": "cards",
    "card": "cards",
    "EmbeddingCache": "cache",
    "build_tuples": "pseudo",
    "ProjectorTraining": "training",
    "fit_mixture": "training",
    "FuseRecipe": "recipe",
    "load_fuse_recipe": "recipe",
    "run_fuse": "recipe",
    "SweepTask": "sweep",
}

__all__ = ["PRESETS", "PRESET_TITLES", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"openbind.fusion.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'openbind.fusion' has no attribute {name!r}")
