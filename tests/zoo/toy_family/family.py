"""The toy family's cards, key map and builder.

In the library this file would be `src/openbind/zoo/toy.py`, its cards in `zoo/tables.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openbind import checkpoint
from openbind.cards import LocalFolder, ModelCard, Preprocess
from openbind.config import from_dict
from openbind.keymap import Drop, Join, KeyMap, Rename, Rule
from openbind.space.build import build_space, load_module
from openbind.space.model import SpaceModel
from openbind.types import Modality
from tests.zoo.toy_family.model import ToyClip, ToyConfig


def _tower_rules(hf: str, ob: str) -> tuple[Rule, ...]:
    """The rules shared by both towers: Hugging Face `<hf>_model.*` -> openbind `<ob>.*`."""
    layer = rf"{hf}_model\.encoder\.layers\.(?P<i>\d+)\.self_attn"
    return (
        # separate q, k, v projections -> the fused in_proj of nn.MultiheadAttention
        *(
            Join(
                tuple(rf"{layer}\.{p}_proj\.{kind}" for p in "qkv"),
                rf"{ob}.encoder.layers.\g<i>.in_proj_{kind}",
            )
            for kind in ("weight", "bias")
        ),
        Rename(rf"{layer}\.out_proj\.(weight|bias)", rf"{ob}.encoder.layers.\g<i>.out_proj.\2"),
        Rename(rf"{hf}_model\.embeddings\.position_embedding\.weight", f"{ob}.pos.weight"),
        Drop(rf"{hf}_model\.embeddings\.position_ids"),  # recomputed, not learnt
    )


KEY_MAP: KeyMap = (
    *_tower_rules("text", "text"),
    *_tower_rules("vision", "image"),
    Rename(r"text_model\.embeddings\.token_embedding\.weight", "text.tokens.weight"),
    Rename(r"vision_model\.embeddings\.patch_embedding\.weight", "image.patch.weight"),
    Rename(r"text_model\.final_layer_norm\.(weight|bias)", r"text.encoder.norm.\1"),
    Rename(r"vision_model\.post_layernorm\.(weight|bias)", r"image.encoder.norm.\1"),
    Rename(r"text_projection\.weight", "text.proj.weight"),
    Rename(r"visual_projection\.weight", "image.proj.weight"),
    Rename(r"logit_scale", "text.log_logit_scale"),
)
"""Hugging Face CLIP-style keys -> `ToyClip` keys (data: `openbind.keymap.apply` runs it)."""

PREPROCESS = {
    "text": Preprocess(
        "tests.zoo.toy_family.model:ByteTokens",
        "tests.zoo.toy_family.model:ByteTokensConfig",
        {"context_length": 8, "vocab_size": 64},
    ),
    "image": Preprocess(
        "openbind.preprocess.image:ImageTransform",
        "openbind.preprocess.image:ImageConfig",
        {"size": 8, "crop_size": 8, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
    ),
}


def card(folder: str | Path) -> ModelCard:
    """The card of a toy model whose Hugging Face-format folder is `folder`."""
    return ModelCard(
        name="toy_tiny.test",
        builder="tests.zoo.toy_family.family:build",
        modalities=("text", "image"),
        dim=8,
        weights=LocalFolder(str(folder)),
        license="MIT",
        description="toy two-tower CLIP from a Hugging Face-format folder",
        aliases=("toy",),
        preprocess=PREPROCESS,
    )


def build(
    card: ModelCard, *, modalities: Sequence[Modality], weights: str | Path | None = None
) -> SpaceModel:
    """The toy family's builder: its architecture comes from the folder's `config.json`."""

    def towers(folder: Path | None) -> dict[Modality, object]:
        assert folder is not None  # a LocalFolder source always resolves to a path
        hf = checkpoint.read_hf_config(folder)
        config = from_dict(
            ToyConfig, {k: v for k, v in hf.items() if k in ToyConfig.__annotations__}
        )
        model = load_module(lambda: ToyClip(config), folder, key_map=KEY_MAP)
        return {m: getattr(model, m.value) for m in modalities}

    return build_space(card, modalities=modalities, weights=weights, towers=towers)
