"""Audio layouts: ESC-50 (classes, 5 folds), AudioCaps and Clotho (captions).

* ESC-50: `meta/esc50.csv` (filename, fold, target, category, ...) and `audio/<filename>`.
* AudioCaps: `<split>.csv` (audiocap_id, youtube_id, start_time, caption; default split "test")
  and the clips anywhere below the root, named `<youtube_id>.wav`, `Y<youtube_id>.wav`,
  `<youtube_id>_<start_time>.wav` or `<audiocap_id>.wav` (any audio extension). Captions of
  one clip share it.
* Clotho: `clotho_captions_<split>.csv` (file_name, caption_1..caption_5; default split
  "evaluation") and the clips below the root (e.g. `evaluation/<file_name>`).
"""

from __future__ import annotations

from pathlib import Path

from openbind.errors import BadInput
from openbind.eval.data import Classification, Dataset, Item, Pairs
from openbind.eval.layouts.common import (
    AUDIO_EXTS,
    class_name,
    first_existing,
    index_files,
    read_csv,
    rel,
)
from openbind.eval.layouts.options import LayoutOptions
from openbind.types import Modality


def esc50(root: Path, opts: LayoutOptions) -> Dataset:
    """ESC-50: 2,000 five-second clips in 50 classes, 5 folds for cross-validation."""
    meta = root / "meta" / "esc50.csv"
    rows = read_csv(meta, ("filename", "fold", "target", "category"))
    names: dict[int, str] = {}
    items: list[Item] = []
    labels: list[int] = []
    folds: list[int] = []
    missing: list[str] = []
    for line, row in enumerate(rows, start=2):
        try:
            target, fold = int(row["target"]), int(row["fold"])
        except ValueError:
            raise BadInput(
                f"malformed line {line}: target and fold must be integers", source=meta
            ) from None
        names.setdefault(target, class_name(row["category"]))
        path = root / "audio" / row["filename"]
        if not path.is_file():
            missing.append(rel(path, root))
            continue
        items.append(Item(path, rel(path, root)))
        labels.append(target)
        folds.append(fold)
    if sorted(names) != list(range(len(names))):
        raise BadInput(
            f"malformed: targets must be 0..{len(names) - 1}, got {sorted(names)}", source=meta
        )
    classes = tuple(names[i] for i in range(len(names)))
    present = set(labels)
    absent = tuple(c for i, c in enumerate(classes) if i not in present)
    clf = Classification(
        Modality.AUDIO, tuple(items), tuple(labels), classes, "esc50", tuple(folds), None, absent
    )
    return Dataset("esc50", "esc50", root, clf, files=(meta,), missing=tuple(missing))


def audiocaps(root: Path, opts: LayoutOptions) -> Dataset:
    """AudioCaps captions (5 per test clip) for text-audio retrieval."""
    split = opts.split or "test"
    csv_path = first_existing(
        root, (f"{split}.csv", f"audiocaps_{split}.csv"), f"AudioCaps {split} CSV"
    )
    rows = read_csv(csv_path, ("youtube_id", "caption"))
    files = index_files(root, AUDIO_EXTS)

    def find(row: dict[str, str]) -> Path | None:
        yid = row["youtube_id"]
        start = row.get("start_time", "")
        stems = [yid, f"Y{yid}", f"{yid}_{start}", f"Y{yid}_{start}", row.get("audiocap_id", "")]
        if start.isdigit():
            stems += [f"{yid}_{int(start):d}.000", f"{yid}_{float(start):.3f}"]
        return next((files[s] for s in stems if s and s in files), None)

    groups = [((r["youtube_id"], r.get("start_time", "")), r["caption"], find(r)) for r in rows]
    return _caption_pairs("audiocaps", root, csv_path, groups, Modality.AUDIO, "youtube_id")


def clotho(root: Path, opts: LayoutOptions) -> Dataset:
    """Clotho captions (5 per clip) for text-audio retrieval."""
    split = opts.split or "evaluation"
    csv_path = first_existing(
        root, (f"clotho_captions_{split}.csv",), f"Clotho {split} captions CSV"
    )
    columns = [f"caption_{i}" for i in range(1, 6)]
    rows = read_csv(csv_path, ("file_name", *columns))
    files = index_files(root, AUDIO_EXTS)
    groups = [((r["file_name"],), r[c], files.get(r["file_name"])) for r in rows for c in columns]
    return _caption_pairs("clotho", root, csv_path, groups, Modality.AUDIO, "file_name")


def _caption_pairs(
    name: str,
    root: Path,
    annotation: Path,
    groups: list[tuple[tuple[str, ...], str, Path | None]],
    modality: Modality,
    key_name: str,
) -> Dataset:
    """Captions grouped by media key into a text->media `Pairs` (missing media listed)."""
    media: dict[tuple[str, ...], int] = {}
    items: list[Item] = []
    captions: list[str] = []
    matches: list[tuple[int, ...]] = []
    missing: dict[str, None] = {}
    for key, caption, path in groups:
        if path is None:
            missing.setdefault(f"{key_name}={key[0]}", None)
            continue
        if key not in media:
            media[key] = len(items)
            items.append(Item(path, rel(path, root)))
        captions.append(caption)
        matches.append((media[key],))
    pairs = Pairs(Modality.TEXT, tuple(captions), modality, tuple(items), tuple(matches))
    return Dataset(name, name, root, None, (pairs,), (annotation,), tuple(missing))
