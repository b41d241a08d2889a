"""openbind's own paired-data manifest (what `openbind data synth` and `openbind data sounds`
write and `openbind train` reads): `manifest.csv` with one column per modality (file paths
relative to the root; captions for `text`) and an optional `label` column.

Gives a retrieval part for every two modality columns, in `Modality` order (text-audio,
image-audio, ...: the media pairs are emergent pairs for a space bound through a third modality),
and, with a `label` column, a classification of the `--modality` column (default: the first media
column).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

from openbind.errors import BadInput
from openbind.eval.data import Classification, Dataset, Input, Item, Pairs
from openbind.eval.layouts.common import first_existing, read_csv, rel
from openbind.eval.layouts.options import LayoutOptions
from openbind.types import Modality


def manifest(root: Path, opts: LayoutOptions) -> Dataset:
    names = (f"{opts.split}.csv",) if opts.split else ("manifest.csv",)
    path = first_existing(root, names, "manifest CSV")
    header = read_csv(path, ())[0].keys()
    columns = [m for m in Modality if m.value in header]
    if len(columns) < 1 or (len(columns) < 2 and "label" not in header):
        raise BadInput(
            f"malformed: needs two modality columns, or one and 'label'; header {list(header)}",
            source=path,
        )
    rows = read_csv(path, [m.value for m in columns])
    kept: list[dict[str, Input]] = []
    labels: list[str] = []
    missing: list[str] = []
    for row in rows:
        entry: dict[str, Input] = {}
        for m in columns:
            if m is Modality.TEXT:
                entry[m.value] = row[m.value]
                continue
            p = root / row[m.value]
            if not p.is_file():
                missing.append(rel(p, root))
                break
            entry[m.value] = Item(p, rel(p, root))
        else:
            kept.append(entry)
            labels.append(row.get("label", ""))
    pairs = tuple(
        Pairs(
            a,
            tuple(e[a.value] for e in kept),
            b,
            tuple(e[b.value] for e in kept),
            tuple((i,) for i in range(len(kept))),
        )
        for a, b in combinations(columns, 2)
    )
    clf = None
    media = [m for m in columns if m is not Modality.TEXT]
    if "label" in header and media and kept:
        m = Modality.parse(opts.modality) if opts.modality else media[0]
        if m not in media:
            raise BadInput(
                f"no {m.value!r} column; media columns: {[c.value for c in media]}", source=path
            )
        classes = sorted(set(labels))
        index = {c: i for i, c in enumerate(classes)}
        clf = Classification(
            m,
            tuple(e[m.value] for e in kept),  # type: ignore[misc]
            tuple(index[label] for label in labels),
            tuple(classes),
        )
    return Dataset("manifest", "manifest", root, clf, pairs, (path,), tuple(missing))
