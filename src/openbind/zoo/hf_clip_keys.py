"""Key maps (data) from Hugging Face CLIP checkpoints to openbind's LanguageBind towers.

A `KeyMap` is three tables applied in this order:

1. `ignore`: keys dropped (the `position_ids` buffers older transformers saved);
2. `joins`: keys joined into one tensor, e.g. the `q_proj`/`k_proj`/`v_proj` weights of a layer
   into the fused `in_proj_weight` rows [q; k; v] of `openbind.nn.attention.MultiheadAttention`
   (`torch.cat` along rows, or `torch.stack` for per-part LoRA adapters); the joined key is an
   intermediate name that the renames then map;
3. `renames`: `(regex, replacement)` pairs, the first full match wins.

A key that no table maps is reported, never silently dropped. The tables cover the layouts of
`transformers.CLIPVisionModel` / `CLIPTextModel` (under `vision_model.` / `text_model.`), the
projections of `CLIPModel`, LanguageBind's additions (video temporal attention, `logit_scale`),
and peft's LoRA keys (`base_model.model.` infix, `lora_A.default.weight`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

__all__ = [
    "PEFT_INFIX",
    "TEXT_KEYS",
    "VISION_KEYS",
    "VISION_LORA_KEYS",
    "Join",
    "KeyMap",
    "apply_key_map",
    "fold_peft_lora",
    "strip_peft_infix",
]

PEFT_INFIX = "base_model.model."
"""What peft inserts after the wrapped module's name (`vision_model.encoder.base_model.model.`)."""


@dataclass(frozen=True)
class Join:
    """Several keys that become one tensor.

    Attributes:
        pattern: regex with a named group `part`; the other groups fill `target`.
        parts: values of `part`, in the order the tensors are joined.
        target: `re.Match.expand` template of the joined key.
        stack: `torch.stack` (a new first dimension) instead of `torch.cat` along rows.
    """

    pattern: str
    parts: tuple[str, ...]
    target: str
    stack: bool = False


@dataclass(frozen=True)
class KeyMap:
    """Tables mapping a foreign checkpoint's keys to openbind's (see the module docstring)."""

    renames: tuple[tuple[str, str], ...]
    joins: tuple[Join, ...] = ()
    ignore: tuple[str, ...] = ()


_QKV = ("q", "k", "v")
_LAYER = r"(?P<pre>(?:vision|text)_model)\.encoder\.layers\.(?P<i>\d+)"


def _block_renames(src: str) -> tuple[tuple[str, str], ...]:
    """Renames of the layers of a HF CLIP encoder under `src` to `trunk.blocks.<i>`."""
    layer = rf"{src}\.encoder\.layers\.(\d+)"
    return (
        (rf"{layer}\.self_attn\.in_proj_(weight|bias)", r"trunk.blocks.\1.attn.in_proj_\2"),
        (rf"{layer}\.self_attn\.out_proj\.(weight|bias)", r"trunk.blocks.\1.attn.out_proj.\2"),
        (rf"{layer}\.layer_norm1\.(weight|bias)", r"trunk.blocks.\1.norm_1.\2"),
        (rf"{layer}\.mlp\.(fc1|fc2)\.(weight|bias)", r"trunk.blocks.\1.mlp.\2.\3"),
        (rf"{layer}\.layer_norm2\.(weight|bias)", r"trunk.blocks.\1.norm_2.\2"),
    )


_QKV_JOIN = Join(
    rf"{_LAYER}\.(?P<attn>self_attn|temporal_attn)\.(?P<part>[qkv])_proj\.(?P<w>weight|bias)",
    _QKV,
    r"\g<pre>.encoder.layers.\g<i>.\g<attn>.in_proj_\g<w>",
)

VISION_KEYS = KeyMap(
    renames=(
        (r"vision_model\.embeddings\.class_embedding", "cls_token"),
        (r"vision_model\.embeddings\.patch_embedding\.weight", "patch_embed.weight"),
        (r"vision_model\.embeddings\.position_embedding\.weight", "pos_embed"),
        (r"vision_model\.pre_layrnorm\.(weight|bias)", r"trunk.pre_transformer_layer.\1"),
        *_block_renames("vision_model"),
        (
            r"vision_model\.encoder\.layers\.(\d+)\.temporal_embedding",
            r"trunk.blocks.\1.temporal_embed",
        ),
        (
            r"vision_model\.encoder\.layers\.(\d+)\.temporal_layer_norm1\.(weight|bias)",
            r"trunk.blocks.\1.temporal_norm.\2",
        ),
        (
            r"vision_model\.encoder\.layers\.(\d+)\.temporal_attn\.in_proj_(weight|bias)",
            r"trunk.blocks.\1.temporal_attn.in_proj_\2",
        ),
        (
            r"vision_model\.encoder\.layers\.(\d+)\.temporal_attn\.out_proj\.(weight|bias)",
            r"trunk.blocks.\1.temporal_attn.out_proj.\2",
        ),
        (r"vision_model\.post_layernorm\.(weight|bias)", r"post_norm.\1"),
        (r"visual_projection\.weight", "proj.weight"),
        (r"logit_scale", "log_logit_scale"),
    ),
    joins=(_QKV_JOIN,),
    ignore=(r"vision_model\.embeddings\.position_ids",),
)
"""HF CLIP vision tower (+ `visual_projection`, `logit_scale`, LanguageBind temporal layers) ->
`openbind.encoders.languagebind.ClipVisionTower`."""

TEXT_KEYS = KeyMap(
    renames=(
        (r"text_model\.embeddings\.token_embedding\.weight", "token_embed.weight"),
        (r"text_model\.embeddings\.position_embedding\.weight", "pos_embed"),
        *_block_renames("text_model"),
        (r"text_model\.final_layer_norm\.(weight|bias)", r"final_norm.\1"),
        (r"text_projection\.weight", "proj.weight"),
    ),
    joins=(_QKV_JOIN,),
    ignore=(r"text_model\.embeddings\.position_ids",),
)
"""HF CLIP text tower (+ `text_projection`) -> `openbind.encoders.languagebind.ClipTextTower`."""


def _lora_renames() -> tuple[tuple[str, str], ...]:
    """peft adapter keys (after the q/k/v join) of both attentions -> openbind adapter keys."""
    rules = []
    for src, dst in (("self_attn", "attn"), ("temporal_attn", "temporal_attn")):
        layer = rf"vision_model\.encoder\.layers\.(\d+)\.{src}"
        block = rf"trunk.blocks.\1.{dst}"
        rules += [
            (rf"{layer}\.in_proj_lora_A", rf"{block}.parametrizations.in_proj_weight.0.lora_a"),
            (rf"{layer}\.in_proj_lora_B", rf"{block}.parametrizations.in_proj_weight.0.lora_b"),
            (rf"{layer}\.out_proj\.lora_A\.default\.weight", rf"{block}.out_proj.lora_a"),
            (rf"{layer}\.out_proj\.lora_B\.default\.weight", rf"{block}.out_proj.lora_b"),
        ]
    return tuple(rules)


VISION_LORA_KEYS = KeyMap(
    renames=_lora_renames(),
    joins=(
        Join(
            rf"{_LAYER}\.(?P<attn>self_attn|temporal_attn)\.(?P<part>[qkv])_proj"
            r"\.lora_(?P<ab>A|B)\.default\.weight",
            _QKV,
            r"\g<pre>.encoder.layers.\g<i>.\g<attn>.in_proj_lora_\g<ab>",
            stack=True,
        ),
    ),
)
"""peft LoRA adapters of the vision encoder -> openbind adapters (`openbind.nn.lora`): the q/k/v
adapters of a layer stack into one `QKVLoRA` (a parametrization of `in_proj_weight`), `out_proj`
gets a `LoRALinear`."""


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


def apply_key_map(
    state: Mapping[str, torch.Tensor], key_map: KeyMap
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map a foreign state dict to openbind keys.

    Args:
        state: the checkpoint's tensors.
        key_map: the tables.

    Returns:
        (mapped tensors, keys of `state` that nothing mapped, in checkpoint order). Joins whose
        parts are incomplete leave their keys unmapped.
    """
    ignore = [re.compile(p) for p in key_map.ignore]
    joins = [(re.compile(j.pattern), j) for j in key_map.joins]
    renames = [(re.compile(p), r) for p, r in key_map.renames]
    plain: dict[str, torch.Tensor] = {}
    sources: dict[str, list[str]] = {}
    groups: dict[str, tuple[Join, dict[str, torch.Tensor], list[str]]] = {}
    for key, value in state.items():
        if any(p.fullmatch(key) for p in ignore):
            continue
        for pattern, join in joins:
            m = pattern.fullmatch(key)
            if m:
                target = m.expand(join.target)
                _, parts, keys = groups.setdefault(target, (join, {}, []))
                parts[m["part"]] = value
                keys.append(key)
                break
        else:
            plain[key] = value
            sources[key] = [key]
    unmapped: list[str] = []
    for target, (join, parts, keys) in groups.items():
        if set(parts) != set(join.parts):
            unmapped.extend(keys)
            continue
        tensors = [parts[p] for p in join.parts]
        plain[target] = torch.stack(tensors) if join.stack else torch.cat(tensors)
        sources[target] = keys
    out: dict[str, torch.Tensor] = {}
    for key, value in plain.items():
        for pattern, replacement in renames:
            m = pattern.fullmatch(key)
            if m:
                out[m.expand(replacement)] = value
                break
        else:
            unmapped.extend(sources[key])
    order = {k: i for i, k in enumerate(state)}
    return out, sorted(unmapped, key=order.__getitem__)
