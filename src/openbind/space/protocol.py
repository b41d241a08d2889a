"""`openbind.Space`: the one contract every embedding space meets.

Everything above the space layer (tasks, index, pipeline, eval, serve, cli, fusion) takes a `Space`
and nothing more, so a single-family `SpaceModel`, a LanguageBind space assembled across
checkpoints and a FreeBind `FusedSpace` search, classify, evaluate and serve alike.

One calling convention for `encode`, `encode_report` and `features`:

    space.encode({"text": ["a cat"], "image": ["cat.jpg"]})  # -> {Modality: Embeddings}
    space.encode("text", ["a cat", "a dog"])                  # -> Embeddings (2 rows)
    space.encode("text", "a cat")                             # one item -> Embeddings (1 row)

The mapping form returns a mapping of the per-modality results; the `(modality, items)` form
returns the result itself. A list passed without a modality is a `TypeError` that shows the call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from openbind.types import Embeddings, Modality


@dataclass(frozen=True)
class ItemError:
    """An input that could not be embedded.

    Attributes:
        index: its position in the list it came in.
        item: a short description of it (a path, the start of a string, a type and shape).
        reason: why it was refused, without the position.
    """

    index: int
    item: str
    reason: str

    def __str__(self) -> str:
        return f"item {self.index} ({self.item}): {self.reason}"


@dataclass(frozen=True)
class EncodeReport:
    """Embeddings of the good items of a batch, and the errors of the bad ones.

    Attributes:
        embeddings: one row per kept item, in input order.
        kept: input positions of the rows of `embeddings`.
        errors: the items that were skipped and why.
        truncated: kept items that were embedded only in part, and what was cut (e.g. a text over
            the `max_chars` limit; see `openbind.limits`).
    """

    embeddings: Embeddings
    kept: list[int]
    errors: list[ItemError] = field(default_factory=list)
    truncated: list[ItemError] = field(default_factory=list)


@runtime_checkable
class Space(Protocol):
    """An embedding space: inputs of several modalities -> L2-normalised vectors of one width.

    Attributes:
        model_id: the space's name (`family_variant.tag`, or a fused space's id); `Embeddings`
            carry it so that vectors of different spaces are never compared.
        dim: width of the embeddings.
        modalities: what it embeds.
    """

    model_id: str
    dim: int

    @property
    def modalities(self) -> tuple[Modality, ...]: ...

    def encode(
        self,
        inputs: Any,
        items: Any = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> Any:
        """`{modality: items}` -> `{Modality: Embeddings}`; `(modality, items)` -> `Embeddings`.

        Raises `BadInput` on the first bad item (its `index` and `reason` are fields).
        """
        ...

    def encode_report(
        self,
        inputs: Any,
        items: Any = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> Any:
        """Like `encode`, but bad items are skipped and reported (`EncodeReport` per modality)."""
        ...

    def features(self, inputs: Any, items: Any = None, *, batch_size: int | None = None) -> Any:
        """Raw (N, D) float32 tensors before normalisation, clips averaged per item."""
        ...

    def logit_scale(self, modality: Modality | str) -> float:
        """The temperature the space was trained with for `modality` (1.0 if none)."""
        ...


def is_space(obj: object) -> bool:
    """Whether `obj` meets the `Space` protocol (attributes and methods present)."""
    return isinstance(obj, Space)


def _is_atom(x: Any) -> bool:
    if isinstance(x, (str, bytes, bytearray, memoryview, os.PathLike, Mapping)):
        return True
    if _is_waveform_pair(x):  # (samples, sample_rate): one audio item
        return True
    # arrays, tensors and images are single items even though they iterate
    return hasattr(x, "shape") or hasattr(x, "getpixel") or hasattr(x, "__array__")


def _is_waveform_pair(x: Any) -> bool:
    return (
        isinstance(x, tuple)
        and len(x) == 2
        and hasattr(x[0], "shape")
        and isinstance(x[1], (int, float))
        and not isinstance(x[1], bool)
    )


def split_call(inputs: Any, items: Any = None) -> tuple[dict[Modality, list[Any]], Modality | None]:
    """Normalise the calling convention of `encode`, `encode_report` and `features`.

    Returns:
        The items per modality, and the modality when the call was `(modality, items)` (the
        caller then returns that modality's result alone), else None.

    Raises:
        TypeError: a list or single item without a modality; the message shows the right call.
    """
    if isinstance(inputs, Mapping):
        if items is not None:
            raise TypeError(
                "give either a mapping {modality: items} or (modality, items), not both"
            )
        return {Modality.parse(m): _as_list(v) for m, v in inputs.items()}, None
    if isinstance(inputs, (str, Modality)) and items is not None:
        m = Modality.parse(inputs)
        return {m: _as_list(items)}, m
    shown = type(inputs).__name__
    raise TypeError(
        f"say which modality these inputs are: encode('text', [...]) or encode({{'text': [...]}}), "
        f"not encode({shown})"
    )


def _as_list(items: Any) -> list[Any]:
    """A list of items; one item (a string, path, array, image, mapping) becomes a list of one."""
    if _is_atom(items) or not hasattr(items, "__iter__"):
        return [items]
    return list(items)


def pick(results: Mapping[Modality, Any], single: Modality | None) -> Any:
    """The result of a `split_call`: the mapping, or one modality's value for `(modality, items)`."""
    return results[single] if single is not None else dict(results)
