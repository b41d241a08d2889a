"""What a benchmark is made of: items, class labels, retrieval pairs, and what was missing.

A layout adapter (`openbind.eval.layouts`) reads a folder into a `Dataset`: a classification
part (items of one modality with class labels, optional folds or splits) and/or retrieval parts
(two lists of items with the pairs that match). Items are files, optionally a crop of one (LLVIP
person boxes); text items are plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openbind.types import Modality


@dataclass(frozen=True)
class Item:
    """One file of a benchmark (or a box of it).

    Attributes:
        path: the file.
        name: its path relative to the data root, for messages and reports.
        box: (left, top, right, bottom) pixels to crop, or None for the whole file.
    """

    path: Path
    name: str
    box: tuple[int, int, int, int] | None = None

    def value(self) -> Any:
        """What a space's transform takes: the path, or the cropped pixels as an array."""
        if self.box is None:
            return self.path
        from PIL import Image

        with Image.open(self.path) as im:
            return np.asarray(im.crop(self.box))

    def __str__(self) -> str:
        return self.name if self.box is None else f"{self.name}[{','.join(map(str, self.box))}]"


Input = Item | str
"""A benchmark input: a file item, or a string for text."""


@dataclass(frozen=True)
class Classification:
    """Items of one modality with class labels.

    Attributes:
        modality: what the items are.
        items: the inputs.
        labels: class position of each item.
        classes: class names as used in prompts ("dog", "chirping birds").
        templates: the stored template set of the papers for this benchmark (see
            `openbind.tasks.templates`).
        folds: the fold of each item (ESC-50 has 5), for cross-validated linear probes.
        splits: "train" or "test" per item, when the layout has splits.
        absent_classes: classes of the label set with no item in the data.
    """

    modality: Modality
    items: tuple[Item, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]
    templates: str = "default"
    folds: tuple[int, ...] | None = None
    splits: tuple[str, ...] | None = None
    absent_classes: tuple[str, ...] = ()

    def subset(self, rows: list[int] | np.ndarray) -> Classification:
        """The same benchmark restricted to `rows` (labels and classes unchanged)."""
        rows = [int(r) for r in rows]
        return Classification(
            self.modality,
            tuple(self.items[r] for r in rows),
            tuple(self.labels[r] for r in rows),
            self.classes,
            self.templates,
            None if self.folds is None else tuple(self.folds[r] for r in rows),
            None if self.splits is None else tuple(self.splits[r] for r in rows),
            self.absent_classes,
        )

    def test_rows(self) -> list[int]:
        """The rows to evaluate zero-shot: all but the "train" split."""
        if self.splits is None:
            return list(range(len(self.items)))
        return [i for i, s in enumerate(self.splits) if s != "train"]


@dataclass(frozen=True)
class Pairs:
    """Two sides of a retrieval benchmark and which of their items match.

    Attributes:
        a_modality: modality of side A (text for captions).
        a: side A's inputs (captions are strings).
        b_modality: modality of side B.
        b: side B's inputs.
        matches: for each A item, the positions of its matching B items.
    """

    a_modality: Modality
    a: tuple[Input, ...]
    b_modality: Modality
    b: tuple[Input, ...]
    matches: tuple[tuple[int, ...], ...]

    @property
    def name(self) -> str:
        return f"{self.a_modality.value}-{self.b_modality.value}"


@dataclass(frozen=True)
class Dataset:
    """A benchmark folder read through a layout.

    Attributes:
        name: the benchmark ("esc50", "audiocaps", ...; for published numbers).
        layout: the layout that read it.
        root: the data folder.
        classification: the classification part, if the layout has labels.
        retrieval: the retrieval parts (text-audio captions, image-thermal pairs, ...).
        files: annotation files read (CSV, JSON, XML), for the data checksum.
        missing: files the annotations name that are not there (the dataset is partial).
        malformed: files skipped because they are not of the layout (wrong type, unreadable).
    """

    name: str
    layout: str
    root: Path
    classification: Classification | None = None
    retrieval: tuple[Pairs, ...] = ()
    files: tuple[Path, ...] = ()
    missing: tuple[str, ...] = ()
    malformed: tuple[str, ...] = field(default_factory=tuple)

    def counts(self) -> dict[str, int]:
        """How many items, classes, pairs, missing and malformed files it has."""
        out: dict[str, int] = {
            "missing_files": len(self.missing),
            "malformed_files": len(self.malformed),
        }
        if self.classification is not None:
            c = self.classification
            out |= {"items": len(c.items), "classes": len(c.classes)}
            out["absent_classes"] = len(c.absent_classes)
        for p in self.retrieval:
            out[f"{p.name} pairs"] = sum(len(m) for m in p.matches)
        return out
