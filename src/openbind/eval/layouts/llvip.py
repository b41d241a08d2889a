"""LLVIP: paired visible / infrared street scenes with person boxes.

Layout: `infrared/<split>/<id>.jpg`, `visible/<split>/<id>.jpg` (default split "test") and
`Annotations/<id>.xml` (Pascal VOC boxes). Two parts:

* classification (thermal, classes "background" and "people", as in the published protocol):
  every person box of an infrared image, and per image one box of the same size that overlaps
  no person (the first such position on a fixed grid), cropped from the infrared image;
* retrieval: visible image <-> infrared image of the same id (an emergent image-thermal pair).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from openbind.errors import BadInput
from openbind.eval.data import Classification, Dataset, Item, Pairs
from openbind.eval.layouts.common import IMAGE_EXTS, need, rel
from openbind.eval.layouts.options import LayoutOptions
from openbind.types import Modality

CLASSES = ("background", "people")  # LanguageBind t_cls names
Box = tuple[int, int, int, int]


def llvip(root: Path, opts: LayoutOptions) -> Dataset:
    split = opts.split or "test"
    infrared_dir = need(root / "infrared" / split, f"LLVIP infrared/{split} folder")
    infrared = sorted(p for p in infrared_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not infrared:
        raise BadInput("no infrared images", source=infrared_dir)
    visible_dir = root / "visible" / split
    annotations = root / "Annotations"
    items: list[Item] = []
    labels: list[int] = []
    files: list[Path] = []
    missing: list[str] = []
    for p in infrared:
        xml = annotations / f"{p.stem}.xml"
        if not annotations.is_dir():
            break
        if not xml.is_file():
            missing.append(rel(xml, root))
            continue
        files.append(xml)
        size, people = _read_boxes(xml)
        for box in people:
            items.append(Item(p, rel(p, root), box))
            labels.append(1)
        background = _background_box(size, people)
        if background is not None:
            items.append(Item(p, rel(p, root), background))
            labels.append(0)
    clf = None
    if items:
        absent = tuple(c for i, c in enumerate(CLASSES) if i not in set(labels))
        clf = Classification(
            Modality.THERMAL, tuple(items), tuple(labels), CLASSES, "llvip", absent_classes=absent
        )
    pairs: tuple[Pairs, ...] = ()
    if visible_dir.is_dir():
        visible, thermal, matches = [], [], []
        for p in infrared:
            q = visible_dir / p.name
            if not q.is_file():
                missing.append(rel(q, root))
                continue
            visible.append(Item(q, rel(q, root)))
            thermal.append(Item(p, rel(p, root)))
            matches.append((len(thermal) - 1,))
        if visible:
            pairs = (
                Pairs(
                    Modality.IMAGE, tuple(visible), Modality.THERMAL, tuple(thermal), tuple(matches)
                ),
            )
    if clf is None and not pairs:
        raise BadInput(
            "nothing to evaluate: no Annotations/<id>.xml boxes and no visible/<split> images",
            source=annotations,
        )
    return Dataset("llvip", "llvip", root, clf, pairs, tuple(files), tuple(missing))


def _read_boxes(xml: Path) -> tuple[tuple[int, int], list[Box]]:
    try:
        tree = ET.parse(xml).getroot()
        size = tree.find("size")
        width = int(size.findtext("width"))  # type: ignore[union-attr, arg-type]
        height = int(size.findtext("height"))  # type: ignore[union-attr, arg-type]
        boxes = []
        for obj in tree.iter("object"):
            if (obj.findtext("name") or "").strip() != "person":
                continue
            b = obj.find("bndbox")
            box = tuple(int(float(b.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax"))  # type: ignore[union-attr, arg-type]
            if box[2] > box[0] and box[3] > box[1]:
                boxes.append(box)
    except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
        raise BadInput(f"malformed VOC annotation ({e})", source=xml) from None
    return (width, height), boxes  # type: ignore[return-value]


def _background_box(size: tuple[int, int], people: list[Box], steps: int = 8) -> Box | None:
    """A box the size of the first person (or a quarter of the image) overlapping nobody."""
    width, height = size
    if people:
        w, h = people[0][2] - people[0][0], people[0][3] - people[0][1]
    else:
        w, h = width // 4, height // 4
    for gy in range(steps):
        for gx in range(steps):
            x = (width - w) * gx // max(steps - 1, 1)
            y = (height - h) * gy // max(steps - 1, 1)
            box = (x, y, x + w, y + h)
            if all(not _overlap(box, p) for p in people):
                return box
    return None


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
