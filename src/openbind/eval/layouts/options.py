"""Options every layout takes (all optional)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LayoutOptions:
    """How to read a data folder.

    Attributes:
        modality: the files' modality for class-folder layouts (default: from the extensions;
            thermal is never detected, so say it).
        split: which split to read ("test", "val", "evaluation", ...; each layout has a default).
        classes: a file listing class names (one per line, in the order of the sorted class
            folders, or "folder<TAB>name" lines), for folders named by ids (ImageNet's wnids).
    """

    modality: str | None = None
    split: str | None = None
    classes: Path | None = None
