"""Tiny generated datasets in each layout. A media file holds the words of its class or caption
as bytes (`tests/eval/fake_space.py` embeds those words), so the fake space's answers are known.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


CLASSES = ("dog", "cat", "car")


def imagefolder(root: Path, per_class: int = 3, ext: str = ".png", splits: bool = False) -> Path:
    for split in ("train", "val") if splits else ("",):
        for c in CLASSES:
            for i in range(per_class):
                write(root / split / c / f"{c}{i}{ext}", f"{c} #{split}{i}")
    return root


ESC_CLASSES = ("dog", "rooster", "chirping_birds")


def esc50(root: Path, per_class: int = 5) -> Path:
    rows = []
    for target, category in enumerate(ESC_CLASSES):
        for i in range(per_class):
            name = f"{i % 5 + 1}-{target}{i}-A-{target}.wav"
            write(root / "audio" / name, f"{category.replace('_', ' ')} #{i}")
            rows.append(
                {
                    "filename": name,
                    "fold": i % 5 + 1,
                    "target": target,
                    "category": category,
                    "esc10": "False",
                    "src_file": "x",
                    "take": "A",
                }
            )
    write_csv(root / "meta" / "esc50.csv", rows)
    return root


CAPTIONED = {
    "clip_a": ("a dog barks", "dog barking loudly"),
    "clip_b": ("a car passes", "car engine"),
}


def audiocaps(root: Path) -> Path:
    rows = []
    n = 0
    for clip, caps in CAPTIONED.items():
        write(root / "audio" / "test" / f"{clip}.wav", " ".join(caps))
        for cap in caps:
            rows.append({"audiocap_id": n, "youtube_id": clip, "start_time": 30, "caption": cap})
            n += 1
    write_csv(root / "test.csv", rows)
    return root


def clotho(root: Path) -> Path:
    rows = []
    for clip, caps in CAPTIONED.items():
        write(root / "evaluation" / f"{clip}.wav", " ".join(caps))
        five = (caps * 3)[:5]
        rows.append(
            {"file_name": f"{clip}.wav", **{f"caption_{i + 1}": c for i, c in enumerate(five)}}
        )
    write_csv(root / "clotho_captions_evaluation.csv", rows)
    return root


def msrvtt(root: Path) -> Path:
    videos, sentences = [], []
    for i, caps in enumerate(CAPTIONED.values()):
        vid = f"video{i}"
        write(root / "videos" / "all" / f"{vid}.mp4", " ".join(caps))
        videos.append({"video_id": vid, "split": "test"})
        sentences += [{"video_id": vid, "caption": c} for c in caps]
    videos.append({"video_id": "video9", "split": "train"})
    (root / "MSRVTT_data.json").write_text(json.dumps({"videos": videos, "sentences": sentences}))
    return root


def coco(root: Path) -> Path:
    images, annotations = [], []
    for i, (clip, caps) in enumerate(CAPTIONED.items()):
        write(root / "val2017" / f"{clip}.jpg", " ".join(caps))
        images.append({"id": i, "file_name": f"{clip}.jpg"})
        annotations += [{"image_id": i, "caption": c} for c in caps]
    write(
        root / "annotations" / "captions_val2017.json",
        json.dumps({"images": images, "annotations": annotations}),
    )
    return root


def flickr30k(root: Path) -> Path:
    images = [
        {"filename": f"{clip}.jpg", "split": "test", "sentences": [{"raw": c} for c in caps]}
        for clip, caps in CAPTIONED.items()
    ]
    images.append({"filename": "other.jpg", "split": "train", "sentences": [{"raw": "x"}]})
    for clip, caps in CAPTIONED.items():
        write(root / "flickr30k-images" / f"{clip}.jpg", " ".join(caps))
    (root / "dataset_flickr30k.json").write_text(json.dumps({"images": images}))
    return root


NYU_CLASSES = ("bedroom", "kitchen", "living_room")
INDEX_WORDS = ("one", "two", "three", "four")


def nyud(root: Path, per_class: int = 2) -> Path:
    for c in NYU_CLASSES:
        for i in range(per_class):
            content = f"{c.replace('_', ' ')} {INDEX_WORDS[i]}"
            write(root / "depth" / c / f"{i}.png", content)
            write(root / "rgb" / c / f"{i}.jpg", content)
    return root


def llvip(root: Path, n: int = 2) -> Path:
    for i in range(n):
        stem = f"{190001 + i}"
        im = Image.new("L", (64, 48), 40)
        im.paste(230, (10, 10, 20, 40))  # a warm person
        im.save(root_dir(root / "infrared" / "test") / f"{stem}.jpg")
        Image.new("RGB", (64, 48), (90, 90, 90)).save(
            root_dir(root / "visible" / "test") / f"{stem}.jpg"
        )
        write(
            root / "Annotations" / f"{stem}.xml",
            "<annotation><size><width>64</width><height>48</height></size>"
            "<object><name>person</name><bndbox><xmin>10</xmin><ymin>10</ymin>"
            "<xmax>20</xmax><ymax>40</ymax></bndbox></object></annotation>",
        )
    return root


def root_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


KINETICS = ("riding a bike", "playing guitar")


def kinetics(root: Path) -> Path:
    rows = []
    for j, label in enumerate(KINETICS):
        for i in range(2):
            yid = f"yt{j}{i}"
            write(root / "val" / label.replace(" ", "_") / f"{yid}_000010_000020.mp4", label)
            rows.append(
                {
                    "label": label,
                    "youtube_id": yid,
                    "time_start": 10,
                    "time_end": 20,
                    "split": "val",
                }
            )
    write_csv(root / "validate.csv", rows)
    return root


VOCABULARY = [
    w.replace("_", " ")
    for w in (
        *CLASSES,
        *ESC_CLASSES,
        *NYU_CLASSES,
        *INDEX_WORDS,
        *KINETICS,
        "people",
        "background",
        *(c for caps in CAPTIONED.values() for c in caps),
    )
]


def manifest(root: Path) -> Path:
    """openbind's paired manifest: image, audio and text columns and a label."""
    rows = []
    for i, (label, word) in enumerate(zip(("dog", "cat", "car", "dog"), INDEX_WORDS, strict=True)):
        write(root / "image" / f"{i}.png", f"{label} {word}")
        write(root / "audio" / f"{i}.wav", f"{label} {word}")
        rows.append({"id": i, "label": label, "image": f"image/{i}.png", "audio": f"audio/{i}.wav",
                     "text": f"a {label} {word}"})  # fmt: skip
    write_csv(root / "manifest.csv", rows)
    return root
