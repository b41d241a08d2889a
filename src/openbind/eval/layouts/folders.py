"""Class-folder layouts: `root/<class>/<file>` (ImageNet-style), NYU-Depth-v2 and SUN-D.

`imagefolder` takes files of any modality (images, depth maps, thermal images, audio, video);
with split folders (`root/train/<class>/...`, `root/val/<class>/...`) the "train" split is kept
for linear probes and the others are evaluated. NYU-D and SUN-D are depth class folders
(`root/depth/<class>/...` or `root/<class>/...`); RGB images in `root/rgb/<class>/...` (or
`image/`) with the same names add an image-depth retrieval part (an emergent pair).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from openbind.errors import BadInput
from openbind.eval.data import Classification, Dataset, Item, Pairs
from openbind.eval.layouts.common import (
    DEPTH_EXTS,
    IMAGE_EXTS,
    SPLIT_NAMES,
    class_name,
    need,
    published_class_names,
    rel,
)
from openbind.eval.layouts.options import LayoutOptions
from openbind.pipeline.detect import EXTENSIONS, detect
from openbind.types import Modality

CLASS_FILES = ("classnames.txt", "classes.txt")
IMAGENET_CLASSES = 1000


def imagefolder(root: Path, opts: LayoutOptions) -> Dataset:
    """`root/<class>/<file>`, or `root/<split>/<class>/<file>`."""
    forced = Modality.parse(opts.modality) if opts.modality else None
    data = _class_folders(root, root, opts, forced, "imagefolder", "imagefolder")
    c = data.classification
    if c is not None and c.modality is Modality.IMAGE and len(c.classes) == IMAGENET_CLASSES:
        return replace(data, name="imagenet")  # ImageNet-1k val in class folders
    return data


def nyud(root: Path, opts: LayoutOptions) -> Dataset:
    """NYU-Depth-v2 scene classes (10 in ImageBind's protocol, "others" included)."""
    return _depth(root, opts, "nyud")


def sund(root: Path, opts: LayoutOptions) -> Dataset:
    """SUN RGB-D depth scene classes (SUN-D)."""
    return _depth(root, opts, "sund")


def _depth(root: Path, opts: LayoutOptions, name: str) -> Dataset:
    base = root / "depth" if (root / "depth").is_dir() else root
    data = _published_classes(_class_folders(root, base, opts, Modality.DEPTH, name, name))
    rgb_dir = next((root / d for d in ("rgb", "image", "images") if (root / d).is_dir()), None)
    if rgb_dir is None or data.classification is None:
        return data
    depth_items = data.classification.items
    by_key = {_pair_key(it.path, base): i for i, it in enumerate(depth_items)}
    rgb: list[Item] = []
    matches: list[tuple[int, ...]] = []
    for p in sorted(rgb_dir.rglob("*")):
        if p.suffix.lower() in IMAGE_EXTS and p.is_file():
            j = by_key.get(_pair_key(p, rgb_dir))
            if j is not None:
                rgb.append(Item(p, rel(p, root)))
                matches.append((j,))
    if not rgb:
        return data
    pairs = Pairs(Modality.IMAGE, tuple(rgb), Modality.DEPTH, depth_items, tuple(matches))
    return replace(data, retrieval=(pairs,))


def _published_classes(data: Dataset) -> Dataset:
    """Use the benchmark's published class list when the folders are a part of it: its other
    classes stay candidates and are reported as absent."""
    c = data.classification
    published = tuple(published_class_names(data.name))
    if c is None or not published or not set(c.classes) <= set(published):
        return data
    index = [published.index(name) for name in c.classes]
    present = {index[label] for label in c.labels}
    clf = Classification(
        c.modality,
        c.items,
        tuple(index[label] for label in c.labels),
        published,
        c.templates,
        c.folds,
        c.splits,
        tuple(name for i, name in enumerate(published) if i not in present),
    )
    return replace(data, classification=clf)


def _pair_key(path: Path, base: Path) -> str:
    return str(path.relative_to(base).with_suffix(""))


def _class_folders(
    root: Path, base: Path, opts: LayoutOptions, forced: Modality | None, name: str, layout: str
) -> Dataset:
    need(base, "class folders")
    if not base.is_dir():
        raise BadInput("expected a folder of class folders (<class>/<file>)", source=base)
    subdirs = sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
    if opts.split:
        split_dirs = {opts.split: need(base / opts.split, f"split folder {opts.split!r}")}
    elif subdirs and all(d.name in SPLIT_NAMES for d in subdirs):
        split_dirs = {d.name: d for d in subdirs}
    else:
        split_dirs = {"": base}
    folders: dict[str, list[tuple[str, Path]]] = {}  # class folder -> (split, file)
    malformed: list[str] = []
    exts = _extensions(forced)
    for split, d in split_dirs.items():
        class_dirs = sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith("."))
        if not class_dirs:
            raise BadInput(
                "no class folders: expected <class>/<file> below it", source=rel(d, root) or d
            )
        for c in class_dirs:
            files = folders.setdefault(c.name, [])
            for p in sorted(c.rglob("*")):
                if not p.is_file() or p.name.startswith("."):
                    continue
                if p.suffix.lower() in exts:
                    files.append((split, p))
                else:
                    malformed.append(rel(p, root))
    order = sorted(folders)
    names = _class_names(order, root, opts)
    items: list[Item] = []
    labels: list[int] = []
    splits: list[str] = []
    for label, folder in enumerate(order):
        for split, p in folders[folder]:
            items.append(Item(p, rel(p, root)))
            labels.append(label)
            splits.append("train" if split == "train" else "test")
    if not items:
        first = malformed[0] if malformed else rel(base, root)
        raise BadInput(f"no usable files in the class folders; first rejected: {first}")
    modality = forced or _one_modality(items)
    absent = tuple(names[i] for i, f in enumerate(order) if not folders[f])
    has_splits = len(split_dirs) > 1 or "train" in split_dirs
    return Dataset(
        name,
        layout,
        root,
        Classification(
            modality,
            tuple(items),
            tuple(labels),
            tuple(names),
            templates=_TEMPLATES.get(name, {}).get(modality, "default"),
            splits=tuple(splits) if has_splits else None,
            absent_classes=absent,
        ),
        files=tuple(p for p in (root / f for f in CLASS_FILES) if p.is_file())
        + ((opts.classes,) if opts.classes else ()),
        malformed=tuple(malformed),
    )


_TEMPLATES = {
    "nyud": {Modality.DEPTH: "nyu"},
    "sund": {Modality.DEPTH: "nyu"},
    "imagefolder": {Modality.THERMAL: "llvip", Modality.DEPTH: "nyu"},
}


def _extensions(forced: Modality | None) -> tuple[str, ...]:
    if forced is None:
        return tuple(EXTENSIONS)
    if forced in (Modality.THERMAL, Modality.IMAGE):
        return IMAGE_EXTS
    if forced is Modality.DEPTH:
        return DEPTH_EXTS
    return tuple(e for e, m in EXTENSIONS.items() if m is forced)


def _one_modality(items: list[Item]) -> Modality:
    kinds = [detect(it.path) for it in items]
    counts = Counter(k for k in kinds if k is not None)
    if not counts:
        raise BadInput(
            "cannot tell the files' modality; give it (--modality)", source=items[0].name
        )
    major = counts.most_common(1)[0][0]
    odd = next((it for it, k in zip(items, kinds, strict=True) if k is not major), None)
    if odd is not None:
        raise BadInput(
            f"mixed modalities: most files are {major.value}, this one is not; "
            "give --modality or keep one modality per dataset",
            source=odd.name,
        )
    return major


def _class_names(folders: list[str], root: Path, opts: LayoutOptions) -> list[str]:
    path = opts.classes or next((root / f for f in CLASS_FILES if (root / f).is_file()), None)
    if path is None:
        return [class_name(f) for f in folders]
    lines = [ln.strip() for ln in need(Path(path), "class names file").read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    if all("\t" in ln for ln in lines):
        table = dict(ln.split("\t", 1) for ln in lines)
        unnamed = [f for f in folders if f not in table]
        if unnamed:
            raise BadInput(f"malformed: no name for class folder {unnamed[0]!r}", source=path)
        return [table[f].strip() for f in folders]
    if len(lines) != len(folders):
        raise BadInput(
            f"malformed: {len(lines)} class names for {len(folders)} class folders", source=path
        )
    return lines
