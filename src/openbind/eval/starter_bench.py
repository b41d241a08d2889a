"""An offline benchmark for the starter space, built only from what installs here.

The data is written once (deterministically) in the standard layouts, so the run goes through
the same adapters and protocols as a real benchmark:

| part | layout | from |
|---|---|---|
| photos | imagefolder (10 photos, 10 labels + 12 empty distractor classes) and COCO captions | scikit-image's sample photographs (`openbind.data.samples`) |
| clips | MSR-VTT JSON (4 videos, 1 caption each) | the sample videos (pans and zooms over the photos, a bouncing ball) |
| sounds | ESC-50 (12 categories x 5, 5 folds) and AudioCaps CSV (1 caption per clip) | `openbind.data.sounds` with a seed the starter's audio tower was not trained on (speech by espeak-ng) |
| world | imagefolder by colour and by shape | the generated world (`openbind.data.synth`), 64 scenes |

`run_starter_bench()` returns one row per measurement (with the chance level beside it) and the
full reports; `openbind eval starter-bench --markdown` prints the README table.
"""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from openbind.eval.cache import CachedEncoder
from openbind.eval.layouts import LayoutOptions, PartialDataset, load_dataset
from openbind.eval.probe import linear_probe
from openbind.eval.report import EvalReport
from openbind.eval.retrieval import retrieval
from openbind.eval.zero_shot import zero_shot

VERSION = "v1"
SOUND_SEED = 7  # the starter audio tower was trained on seed 0 and validated on seed 1
SOUNDS_PER_CLASS = 5
WORLD_SCENES = 64

PHOTO_LABELS = {
    "astronaut.png": "astronaut",
    "coffee.png": "coffee",
    "chelsea.png": "cat",
    "rocket.jpg": "rocket",
    "motorcycle.png": "motorcycle",
    "hubble.jpg": "galaxy",
    "coins.png": "coins",
    "camera.png": "photographer",
    "moon.png": "moon",
    "bricks.png": "brick wall",
}
DISTRACTORS = (
    "airplane", "beach", "bird", "book", "car", "computer",
    "dog", "flower", "mountain", "pizza", "tree", "house",
)  # fmt: skip


def build(root: str | Path | None = None) -> Path:
    """Write the benchmark's data under `root` (default `$OPENBIND_HOME/eval/starter-bench/v1`),
    or reuse a finished copy."""
    from openbind.hub import cache_dir

    root = Path(root) if root is not None else cache_dir() / "eval" / "starter-bench" / VERSION
    done = root / "DONE"
    if done.is_file():
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    _photos_and_clips(root)
    _sounds(root / "sounds")
    _world(root / "world")
    done.write_text(VERSION + "\n")
    return root


def _photos_and_clips(root: Path) -> None:
    from openbind.data.samples import build_samples

    samples = build_samples(root / "samples")
    images = [s for s in samples.samples if s.name.split("/")[-1] in PHOTO_LABELS]
    for s in images:
        name = s.name.split("/")[-1]
        target = root / "photos" / PHOTO_LABELS[name].replace(" ", "_") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples.path(s.name), target)
    for label in DISTRACTORS:
        (root / "photos" / label).mkdir(parents=True, exist_ok=True)
    coco = root / "photos_coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "val2017").mkdir()
    listed, captions = [], []
    for i, s in enumerate(images):
        name = s.name.split("/")[-1]
        shutil.copy(samples.path(s.name), coco / "val2017" / name)
        listed.append({"id": i, "file_name": name})
        captions.append({"image_id": i, "caption": s.caption})
    (coco / "annotations" / "captions_val2017.json").write_text(
        json.dumps({"images": listed, "annotations": captions}, indent=1)
    )
    clips = root / "clips"
    (clips / "videos").mkdir(parents=True)
    videos, sentences = [], []
    for s in samples.by_modality("video"):
        vid = Path(s.name).stem
        shutil.copy(samples.path(s.name), clips / "videos" / f"{vid}.mp4")
        videos.append({"video_id": vid, "split": "test"})
        sentences.append({"video_id": vid, "caption": s.caption})
    (clips / "MSRVTT_data.json").write_text(
        json.dumps({"videos": videos, "sentences": sentences}, indent=1)
    )


def _sounds(root: Path) -> None:
    from openbind.data.sounds import CATEGORIES, write_sounds

    n = SOUNDS_PER_CLASS * len(CATEGORIES)
    rows = list(csv.DictReader(write_sounds(root, n, seed=SOUND_SEED).open()))
    prompts = {c.name: c.prompt for c in CATEGORIES}
    names = [c.name for c in CATEGORIES]
    (root / "meta").mkdir()
    with (root / "meta" / "esc50.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category"])
        for i, r in enumerate(rows):
            fold = i // len(CATEGORIES) + 1
            w.writerow([Path(r["audio"]).name, fold, names.index(r["label"]),
                        prompts[r["label"]].replace(" ", "_")])  # fmt: skip
    with (root / "test.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["audiocap_id", "youtube_id", "start_time", "caption"])
        for r in rows:
            w.writerow([r["id"], r["id"], 0, r["text"]])


def _world(root: Path) -> None:
    from openbind.data.synth import write_world

    manifest = write_world(root / "scenes", WORLD_SCENES, seed=3, size=128, modalities=("image",))
    for row in csv.DictReader(manifest.open()):
        for kind in ("colour", "shape"):
            target = root / f"by_{kind}" / row[kind] / Path(row["image"]).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "scenes" / row["image"], target)


# -- running ----------------------------------------------------------------------------------


def run_starter_bench(
    model: str = "starter", *, root: str | Path | None = None, progress: bool = False
) -> dict[str, Any]:
    """Build (once) and run the benchmark on `model`.

    Returns:
        {"model_id", "rows": [{"data", "task", "metric", "value", "chance", "items"}],
        "reports": [EvalReport dicts]}.
    """
    import openbind

    data_root = build(root)
    space = openbind.load(model)
    enc = CachedEncoder(space, data_root.parent / "cache", progress=progress)
    rows: list[dict[str, Any]] = []
    reports: list[EvalReport] = []

    def load(folder: str, layout: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PartialDataset)  # the distractor classes are empty
            return load_dataset(data_root / folder, layout, LayoutOptions())

    def add(name: str, report: EvalReport, metric: str, chance: float, items: int) -> None:
        reports.append(report)
        rows.append(
            {"data": name, "task": report.task, "metric": metric,
             "value": report.metrics[metric], "chance": round(100 * chance, 1), "items": items}
        )  # fmt: skip

    photos = load("photos", "imagefolder")
    r = zero_shot(space, photos, encoder=enc)
    add("photos (10 + 12 distractor labels)", r, "top1", 1 / 22, r.counts["evaluated"])
    add("photos (10 + 12 distractor labels)", r, "top5", 5 / 22, r.counts["evaluated"])
    r = retrieval(space, load("photos_coco", "coco"), encoder=enc)
    add("photo captions (COCO layout)", r, "text->image R@1", 1 / 10, 10)
    add("photo captions (COCO layout)", r, "image->text R@1", 1 / 10, 10)
    r = retrieval(space, load("clips", "msrvtt"), encoder=enc)
    add("video captions (MSR-VTT layout)", r, "text->video R@1", 1 / 4, 4)
    sounds = load("sounds", "esc50")
    n_classes = len(sounds.classification.classes)
    r = zero_shot(space, sounds, templates=["{}"], encoder=enc)
    add("sounds (ESC-50 layout, 12 classes)", r, "top1", 1 / n_classes, r.counts["evaluated"])
    r = linear_probe(space, sounds, encoder=enc)
    add("sounds (ESC-50 layout, 12 classes)", r, "top1", 1 / n_classes, r.counts["evaluated"])
    r = retrieval(space, load("sounds", "audiocaps"), encoder=enc)
    n = r.counts["text->audio candidates"]
    add("sound captions (AudioCaps layout)", r, "text->audio R@1", 1 / n, n)
    add("sound captions (AudioCaps layout)", r, "text->audio R@5", 5 / n, n)
    add("sound captions (AudioCaps layout)", r, "text->audio R@10", 10 / n, n)
    for kind, template in (("colour", "a {} shape"), ("shape", "a {}")):
        world = load(f"world/by_{kind}", "imagefolder")
        r = zero_shot(space, world, templates=[template], encoder=enc)
        add(f"generated world images by {kind}", r, "top1", 1 / 4, r.counts["evaluated"])
        r = linear_probe(space, world, encoder=enc)
        add(f"generated world images by {kind}", r, "top1", 1 / 4, r.counts["evaluated"])
    return {
        "model_id": space.model_id,
        "data": str(data_root),
        "rows": rows,
        "reports": [rep.to_dict() for rep in reports],
    }


def markdown(result: dict[str, Any], *, plain: bool = False) -> str:
    """The rows as a Markdown table (or aligned plain text)."""
    head = ["data", "task", "items", "metric", result["model_id"], "chance"]
    lines = [
        [
            r["data"],
            r["task"],
            str(r["items"]),
            r["metric"],
            f"{r['value']:.1f}",
            f"{r['chance']:.1f}",
        ]
        for r in result["rows"]
    ]
    if plain:
        widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]
        return "\n".join(
            "  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True))
            for row in [head, *lines]
        )
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in lines]
    return "\n".join(out)
