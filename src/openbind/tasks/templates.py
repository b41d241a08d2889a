"""Prompt templates for zero-shot classification, stored as data (`tasks/templates/*.json`).

One JSON file per modality maps a dataset name to its templates; "default" is a single plain
prompt. Ensembles (e.g. CLIP's 80 ImageNet prompts, "imagenet") average the class embeddings of
all their prompts (Radford et al., 2021, arXiv:2103.00020, section 3.1.4).

Example:
    >>> templates("audio")
    ('the sound of {}.',)
    >>> len(templates("image", "imagenet"))
    80
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from openbind.errors import BadInput
from openbind.types import Modality

FOLDER = Path(__file__).parent / "templates"


def templates(modality: Modality | str, dataset: str = "default") -> tuple[str, ...]:
    """The prompt templates ("... {} ...") of `modality` for `dataset`.

    Raises:
        BadInput: no templates are stored for that modality or dataset; the message lists those
            that are.
    """
    m = Modality.parse(modality)
    table = _table(m.value)
    if dataset not in table:
        raise BadInput(
            f"no {dataset!r} templates for {m.value}; stored: {', '.join(sorted(table))}"
        )
    return table[dataset]


def datasets(modality: Modality | str) -> list[str]:
    """Names of the template sets stored for `modality`."""
    return sorted(_table(Modality.parse(modality).value))


@cache
def _table(modality: str) -> dict[str, tuple[str, ...]]:
    path = FOLDER / f"{modality}.json"
    if not path.is_file():
        return {"default": ("{}",)}
    return {name: tuple(items) for name, items in json.loads(path.read_text()).items()}
