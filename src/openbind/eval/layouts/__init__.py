"""Dataset layouts: read a benchmark folder as it is on disk into a `Dataset`.

`load_dataset(root, layout)` checks the layout, names the first missing or malformed file when
the folder does not match it, and warns (`PartialDataset`) with a count when some files the
annotations name are absent: the rest is evaluated. `LAYOUTS` lists what is known.

Example:
    >>> data = load_dataset("ESC-50-master", "esc50")
    >>> data.classification.classes[:3]
    ('dog', 'rooster', 'pig')
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openbind.errors import BadInput
from openbind.eval.data import Dataset
from openbind.eval.layouts import audio, captions, folders, llvip, manifest, video
from openbind.eval.layouts.options import LayoutOptions

__all__ = ["LAYOUTS", "Layout", "LayoutOptions", "PartialDataset", "load_dataset"]


@dataclass(frozen=True)
class Layout:
    """A known layout: how to read it and what it gives."""

    read: Callable[[Path, LayoutOptions], Dataset]
    tasks: tuple[str, ...]
    description: str


LAYOUTS: dict[str, Layout] = {
    "imagefolder": Layout(
        folders.imagefolder,
        ("zero-shot", "linear-probe"),
        "<class>/<file> or <split>/<class>/<file>, files of any one modality (ImageNet-style)",
    ),
    "esc50": Layout(
        audio.esc50, ("zero-shot", "linear-probe"), "meta/esc50.csv + audio/, 50 classes, 5 folds"
    ),
    "audiocaps": Layout(audio.audiocaps, ("retrieval",), "<split>.csv captions + audio clips"),
    "clotho": Layout(audio.clotho, ("retrieval",), "clotho_captions_<split>.csv + audio clips"),
    "msrvtt": Layout(
        captions.msrvtt, ("retrieval",), "MSRVTT_data.json or MSRVTT_JSFUSION_test.csv + videos"
    ),
    "coco": Layout(
        captions.coco,
        ("retrieval",),
        "annotations/captions_val*.json or dataset_coco.json + images",
    ),
    "flickr30k": Layout(captions.flickr30k, ("retrieval",), "dataset_flickr30k.json + images"),
    "nyud": Layout(
        folders.nyud,
        ("zero-shot", "linear-probe", "retrieval"),
        "NYU-Depth-v2 depth/<class>/<file> (+ rgb/<class>/<file> pairs)",
    ),
    "sund": Layout(
        folders.sund,
        ("zero-shot", "linear-probe", "retrieval"),
        "SUN-D depth/<class>/<file> (+ rgb/<class>/<file> pairs)",
    ),
    "llvip": Layout(
        llvip.llvip,
        ("zero-shot", "linear-probe", "retrieval"),
        "infrared/<split>/, visible/<split>/, Annotations/*.xml person boxes",
    ),
    "manifest": Layout(
        manifest.manifest,
        ("zero-shot", "linear-probe", "retrieval"),
        "openbind's manifest.csv: a column per modality (+ label); every two columns are pairs",
    ),
    "kinetics": Layout(
        video.kinetics,
        ("zero-shot", "linear-probe"),
        "<split>.csv (label, youtube_id, ...) + clips",
    ),
}


class PartialDataset(UserWarning):
    """Some files the annotations name are missing; the rest is evaluated."""


def load_dataset(root: str | Path, layout: str, options: LayoutOptions | None = None) -> Dataset:
    """Read the benchmark folder `root` in `layout`.

    Raises:
        BadInput: unknown layout (the message lists the known ones), no such folder, a missing
            or malformed annotation file (named), or no usable item at all (the first missing
            file is named).

    Warns:
        PartialDataset: some files are missing or malformed (their count and the first one).
    """
    if layout not in LAYOUTS:
        known = ", ".join(sorted(LAYOUTS))
        raise BadInput(f"unknown layout {layout!r}; known layouts: {known}")
    root = Path(root)
    if not root.is_dir():
        raise BadInput("no such data folder", source=root)
    data = LAYOUTS[layout].read(root, options or LayoutOptions())
    empty = (data.classification is None or not data.classification.items) and not any(
        p.a and p.b for p in data.retrieval
    )
    if empty:
        first = data.missing[0] if data.missing else "(none listed)"
        raise BadInput(f"no usable item in {root} as {layout}; first missing file: {first}")
    for kind, names in (("missing", data.missing), ("malformed", data.malformed)):
        if names:
            warnings.warn(
                PartialDataset(
                    f"{root}: {len(names)} {kind} file(s), first: {names[0]}; evaluating the rest"
                ),
                stacklevel=2,
            )
    if data.classification is not None and data.classification.absent_classes:
        absent = data.classification.absent_classes
        warnings.warn(
            PartialDataset(
                f"{root}: {len(absent)} class(es) of the label set have no item: "
                f"{', '.join(absent[:10])}{' ...' if len(absent) > 10 else ''}"
            ),
            stacklevel=2,
        )
    return data
