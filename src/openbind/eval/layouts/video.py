"""Kinetics-style action classes: an annotation CSV (label, youtube_id, time_start, time_end)
and clips named `<youtube_id>_<start:06d>_<end:06d>.mp4` (or `<youtube_id>.mp4`) anywhere below
the root. The CSV is `<split>.csv` (default: the first of validate.csv, val.csv, test.csv).
Classes are the sorted labels; K400 has 400, K600 600 (the benchmark name follows the count).
"""

from __future__ import annotations

from pathlib import Path

from openbind.eval.data import Classification, Dataset, Item
from openbind.eval.layouts.common import VIDEO_EXTS, first_existing, index_files, read_csv, rel
from openbind.eval.layouts.options import LayoutOptions
from openbind.types import Modality


def kinetics(root: Path, opts: LayoutOptions) -> Dataset:
    names = (f"{opts.split}.csv",) if opts.split else ("validate.csv", "val.csv", "test.csv")
    csv_path = first_existing(root, names, "Kinetics annotation CSV")
    rows = read_csv(csv_path, ("label", "youtube_id"))
    videos = index_files(root, VIDEO_EXTS)
    classes = sorted({r["label"] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    items: list[Item] = []
    labels: list[int] = []
    missing: list[str] = []
    for r in rows:
        yid = r["youtube_id"]
        stems = [yid]
        if r.get("time_start", "").isdigit() and r.get("time_end", "").isdigit():
            stems.insert(0, f"{yid}_{int(r['time_start']):06d}_{int(r['time_end']):06d}")
        path = next((videos[s] for s in stems if s in videos), None)
        if path is None:
            missing.append(f"{stems[0]}.mp4")
            continue
        items.append(Item(path, rel(path, root)))
        labels.append(index[r["label"]])
    present = set(labels)
    absent = tuple(c for i, c in enumerate(classes) if i not in present)
    name = {400: "kinetics400", 600: "kinetics600", 700: "kinetics700"}.get(
        len(classes), "kinetics"
    )
    clf = Classification(
        Modality.VIDEO,
        tuple(items),
        tuple(labels),
        tuple(c.replace("_", " ") for c in classes),
        "kinetics",
        absent_classes=tuple(c.replace("_", " ") for c in absent),
    )
    return Dataset(name, "kinetics", root, clf, files=(csv_path,), missing=tuple(missing))
