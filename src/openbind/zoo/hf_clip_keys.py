"""Key maps (data, `openbind.keymap` rules) from Hugging Face CLIP checkpoints to openbind's
LanguageBind towers (`openbind.encoders.languagebind`).

They cover the layouts of `transformers.CLIPVisionModel` / `CLIPTextModel` (under
`vision_model.` / `text_model.`), the projections of `CLIPModel`, LanguageBind's additions (video
temporal attention, `logit_scale`), and peft's LoRA adapters (`base_model.model.` infix,
`lora_A.default.weight`). The `q_proj` / `k_proj` / `v_proj` tensors of a layer are joined into
the fused `in_proj_weight` rows [q; k; v] of `openbind.nn.attention.MultiheadAttention`; their
LoRA adapters into one `QKVLoRA` (A: [A_q; A_k; A_v], B: [B_q; B_k; B_v]). The `position_ids`
buffers older transformers saved are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from openbind.keymap import Drop, Join, KeyMap, Rename

__all__ = [
    "PEFT_INFIX",
    "TEXT_KEYS",
    "VISION_KEYS",
    "VISION_LORA_KEYS",
    "fold_peft_lora",
    "strip_peft_infix",
]

PEFT_INFIX = "base_model.model."
"""What peft inserts after the wrapped module's name (`vision_model.encoder.base_model.model.`)."""

_ATTENTIONS = (("self_attn", "attn"), ("temporal_attn", "temporal_attn"))
"""HF attention module name -> openbind's, in a LanguageBind encoder layer."""


def _layer(tower: str) -> str:
    return rf"{tower}_model\.encoder\.layers\.(?P<i>\d+)"


def _blocks(tower: str, attentions: tuple[tuple[str, str], ...]) -> KeyMap:
    """A HF CLIP encoder's layers -> `trunk.blocks.<i>` (q/k/v joined)."""
    layer = _layer(tower)
    rules: list = []
    for src, dst in attentions:
        rules += [
            Join(
                tuple(rf"{layer}\.{src}\.{p}_proj\.(?P<w>weight|bias)" for p in "qkv"),
                rf"trunk.blocks.\g<i>.{dst}.in_proj_\g<w>",
            ),
            Rename(
                rf"{layer}\.{src}\.out_proj\.(?P<w>weight|bias)",
                rf"trunk.blocks.\g<i>.{dst}.out_proj.\g<w>",
            ),
        ]
    return (
        *rules,
        Rename(rf"{layer}\.layer_norm1\.(?P<w>weight|bias)", r"trunk.blocks.\g<i>.norm_1.\g<w>"),
        Rename(
            rf"{layer}\.mlp\.(?P<fc>fc1|fc2)\.(?P<w>weight|bias)",
            r"trunk.blocks.\g<i>.mlp.\g<fc>.\g<w>",
        ),
        Rename(rf"{layer}\.layer_norm2\.(?P<w>weight|bias)", r"trunk.blocks.\g<i>.norm_2.\g<w>"),
    )


VISION_KEYS: KeyMap = (
    Rename(r"vision_model\.embeddings\.class_embedding", "cls_token"),
    Rename(r"vision_model\.embeddings\.patch_embedding\.weight", "patch_embed.weight"),
    Rename(r"vision_model\.embeddings\.position_embedding\.weight", "pos_embed"),
    Drop(r"vision_model\.embeddings\.position_ids"),
    Rename(r"vision_model\.pre_layrnorm\.(weight|bias)", r"trunk.pre_transformer_layer.\1"),
    *_blocks("vision", _ATTENTIONS),
    Rename(rf"{_layer('vision')}\.temporal_embedding", r"trunk.blocks.\g<i>.temporal_embed"),
    Rename(
        rf"{_layer('vision')}\.temporal_layer_norm1\.(?P<w>weight|bias)",
        r"trunk.blocks.\g<i>.temporal_norm.\g<w>",
    ),
    Rename(r"vision_model\.post_layernorm\.(weight|bias)", r"post_norm.\1"),
    Rename(r"visual_projection\.weight", "proj.weight"),
    Rename(r"logit_scale", "log_logit_scale"),
)
"""HF CLIP vision tower (+ `visual_projection`, `logit_scale`, LanguageBind temporal layers) ->
`ClipVisionTower`."""

TEXT_KEYS: KeyMap = (
    Rename(r"text_model\.embeddings\.token_embedding\.weight", "token_embed.weight"),
    Rename(r"text_model\.embeddings\.position_embedding\.weight", "pos_embed"),
    Drop(r"text_model\.embeddings\.position_ids"),
    *_blocks("text", _ATTENTIONS[:1]),
    Rename(r"text_model\.final_layer_norm\.(weight|bias)", r"final_norm.\1"),
    Rename(r"text_projection\.weight", "proj.weight"),
)
"""HF CLIP text tower (+ `text_projection`) -> `ClipTextTower`."""


def _lora_rules() -> KeyMap:
    layer = _layer("vision")
    rules: list = []
    for src, dst in _ATTENTIONS:
        block = rf"trunk.blocks.\g<i>.{dst}"
        for ab in "AB":
            rules += [
                Join(
                    tuple(rf"{layer}\.{src}\.{p}_proj\.lora_{ab}\.default\.weight" for p in "qkv"),
                    rf"{block}.parametrizations.in_proj_weight.0.lora_{ab.lower()}",
                ),
                Rename(
                    rf"{layer}\.{src}\.out_proj\.lora_{ab}\.default\.weight",
                    rf"{block}.out_proj.lora_{ab.lower()}",
                ),
            ]
    return tuple(rules)


VISION_LORA_KEYS: KeyMap = _lora_rules()
"""peft LoRA adapters of the vision encoder -> `openbind.nn.lora` adapters: a layer's q/k/v
adapters become one `QKVLoRA` (a parametrization of `in_proj_weight`), `out_proj` a
`LoRALinear`."""


def strip_peft_infix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keys without peft's `base_model.model.` infix."""
    return {k.replace(PEFT_INFIX, ""): v for k, v in state.items()}


def fold_peft_lora(state: Mapping[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    """Merge peft adapters into their weights: `W + scale * B @ A`; adapter keys are removed.

    Args:
        state: keys without the peft infix (see `strip_peft_infix`).
        scale: lora_alpha / r of the checkpoint.

    Raises:
        KeyError: an adapter without its pair or its base weight (the key is named).
    """
    from openbind.nn.lora import fold_lora

    out = dict(state)
    for key in [k for k in state if k.endswith(".lora_A.default.weight")]:
        base = key.removesuffix(".lora_A.default.weight")
        b_key, w_key = f"{base}.lora_B.default.weight", f"{base}.weight"
        if b_key not in state or w_key not in state:
            raise KeyError(f"{key}: no {b_key if b_key not in state else w_key} to merge it with")
        out[w_key] = fold_lora(state[w_key], state[key], state[b_key], scale)
        del out[key], out[b_key]
    return out
