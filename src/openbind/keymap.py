"""Key maps: checkpoint layouts of other libraries translated to openbind's, as data.

A key map is a tuple of rules; `apply` runs it over a state dict. Each checkpoint key is handled by
the first rule whose regex matches it in full:

- `Rename(pattern, to)`: the key becomes `to` (a `re` template: `\\1`, `\\g<name>`);
- `Split(pattern, to)`: a fused tensor (e.g. q/k/v stacked along `dim`) becomes `len(to)` equal
  chunks, chunk i under `to[i]`;
- `Join(parts, to)`: the tensors matched by `parts[0]`, `parts[1]`, ... (with the same named
  groups) are concatenated along `dim` into `to` (e.g. separate q, k, v projections into one fused
  `in_proj_weight`);
- `Drop(pattern)`: the key is not used (e.g. buffers the target model recomputes).

A key no rule matches is an error (`CheckpointMismatch` listing them all): a map never silently
ignores weights. `None` as a map means the checkpoint already has openbind's keys.

Example:
    >>> CLIP_TEXT = (
    ...     Rename(r"text_model\\.encoder\\.layers\\.(\\d+)\\.mlp\\.fc1\\.(weight|bias)", r"blocks.\\1.mlp.fc1.\\2"),
    ...     Join(tuple(rf"text_model\\.encoder\\.layers\\.(?P<i>\\d+)\\.self_attn\\.{p}_proj\\.weight"
    ...                for p in "qkv"), r"blocks.\\g<i>.attn.in_proj_weight"),
    ...     Drop(r"text_model\\.embeddings\\.position_ids"),
    ... )
    >>> state = apply(CLIP_TEXT, hf_state, source="model.safetensors")
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openbind.errors import CheckpointMismatch, ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["Drop", "Join", "KeyMap", "Rename", "Rule", "Split", "apply"]


@dataclass(frozen=True)
class Rename:
    """The key matching `pattern` becomes `to` (a `re.Match.expand` template)."""

    pattern: str
    to: str


@dataclass(frozen=True)
class Split:
    """The tensor matching `pattern` is cut into `len(to)` equal chunks along `dim`."""

    pattern: str
    to: tuple[str, ...]
    dim: int = 0


@dataclass(frozen=True)
class Join:
    """Tensors matching `parts` (one each, same named groups) are concatenated along `dim` into `to`.

    The named groups of the part patterns identify which tensors belong together (e.g. `(?P<i>\\d+)`
    for the layer); `to` is expanded with them.
    """

    parts: tuple[str, ...]
    to: str
    dim: int = 0


@dataclass(frozen=True)
class Drop:
    """The key matching `pattern` is not loaded."""

    pattern: str


Rule = Rename | Split | Join | Drop
KeyMap = tuple[Rule, ...]


def apply(
    key_map: KeyMap | None,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    limit: int = 10,
) -> dict[str, torch.Tensor]:
    """`state` with its keys (and fused tensors) translated by `key_map`.

    Args:
        key_map: the rules; None returns `state` unchanged (as a dict).
        state: the checkpoint's tensors.
        source: what `state` came from, for messages.
        limit: how many keys a message lists (counts are complete).

    Returns:
        The translated state dict (tensors are views or the originals; split chunks are views).

    Raises:
        CheckpointMismatch: keys no rule matches (all counted, the first `limit` listed), a Join
            with a part missing, two keys mapped to the same target, or a Split that does not
            divide the tensor evenly.
    """
    if key_map is None:
        return dict(state)
    compiled = _compile(key_map)
    out: dict[str, torch.Tensor] = {}
    joins: dict[tuple[int, str], dict[int, torch.Tensor]] = {}
    unmapped: list[str] = []

    def put(key: str, tensor: torch.Tensor, origin: str) -> None:
        if key in out:
            raise CheckpointMismatch(f"{source}: {origin} maps to {key!r}, already mapped")
        out[key] = tensor

    for key, tensor in state.items():
        for n, (rule, patterns) in enumerate(compiled):
            match, part = _match(patterns, key)
            if match is None:
                continue
            if isinstance(rule, Rename):
                put(match.expand(rule.to), tensor, key)
            elif isinstance(rule, Split):
                if tensor.shape[rule.dim] % len(rule.to):
                    raise CheckpointMismatch(
                        f"{source}: {key} {tuple(tensor.shape)} does not split into "
                        f"{len(rule.to)} equal parts along dim {rule.dim}"
                    )
                for target, chunk in zip(
                    rule.to, tensor.chunk(len(rule.to), rule.dim), strict=True
                ):
                    put(match.expand(target), chunk, key)
            elif isinstance(rule, Join):
                joins.setdefault((n, match.expand(rule.to)), {})[part] = tensor
            break  # Drop: nothing to do
        else:
            unmapped.append(key)
    if unmapped:
        more = f" ... and {len(unmapped) - limit} more" if len(unmapped) > limit else ""
        raise CheckpointMismatch(
            f"{source}: {len(unmapped)} key(s) map to no openbind key: "
            + ", ".join(unmapped[:limit])
            + more
        )
    for (n, target), parts in joins.items():
        rule = compiled[n][0]
        assert isinstance(rule, Join)
        if len(parts) != len(rule.parts):
            lost = [p for i, p in enumerate(rule.parts) if i not in parts]
            raise CheckpointMismatch(f"{source}: {target} lacks the parts matching {lost}")
        import torch

        put(target, torch.cat([parts[i] for i in range(len(rule.parts))], rule.dim), target)
    return out


def _patterns(rule: Rule) -> tuple[str, ...]:
    return rule.parts if isinstance(rule, Join) else (rule.pattern,)


@functools.lru_cache(maxsize=64)
def _compile(key_map: KeyMap) -> tuple[tuple[Rule, tuple[re.Pattern[str], ...]], ...]:
    out = []
    for rule in key_map:
        try:
            out.append((rule, tuple(re.compile(p) for p in _patterns(rule))))
        except re.error as e:
            raise ConfigError(f"key map rule {rule}: bad regex ({e})") from None
    return tuple(out)


def _match(patterns: tuple[re.Pattern[str], ...], key: str) -> tuple[re.Match[str] | None, int]:
    for i, pattern in enumerate(patterns):
        if match := pattern.fullmatch(key):
            return match, i
    return None, -1
