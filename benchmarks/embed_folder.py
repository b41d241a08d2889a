"""End-to-end batch embedding speed: `embed_to_parquet` on a mixed folder vs the model alone.

A folder of real photos (scikit-image samples, cropped and resized into distinct files), text
files and short MP4 videos is embedded twice with the starter space:

* model: `SpaceModel.encode_report` per modality on the same inputs (paths; the text of text
  files), which decodes the next batch in threads while the model runs;
* pipeline: `embed_to_parquet` into a new Parquet file, which adds the folder walk, modality
  detection, content hashing, chunking, the progress bookkeeping and the Parquet write.

Each is timed twice, alternating, and the faster run counts. Target: the pipeline reaches >= 80%
of the model's files/s.

Usage:
    .venv/bin/python benchmarks/embed_folder.py [--images 96] [--texts 96] [--videos 4]

Prints a table and writes benchmarks/results/embed_folder.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from openbind.space.model import SpaceModel

RESULTS = Path(__file__).parent / "results" / "embed_folder.json"
TARGET = 0.8
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "coins", "horse", "page")
WORDS = [
    "dog",
    "cat",
    "bird",
    "car",
    "street",
    "beach",
    "rain",
    "night",
    "coffee",
    "rocket",
    "forest",
    "music",
    "city",
    "snow",
    "river",
]


def make_folder(root: Path, images: int, texts: int, videos: int) -> None:
    import av
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(0)
    photos = []
    for name in SAMPLES:
        img = np.asarray(getattr(data, name)())
        img = img.astype(np.uint8) * 255 if img.dtype == bool else img
        photos.append(np.stack([img] * 3, axis=-1) if img.ndim == 2 else img[..., :3])
    (root / "images").mkdir(parents=True)
    for i in range(images):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        y, x = rng.integers(0, h // 4), rng.integers(0, w // 4)
        crop = photo[y : y + 3 * h // 4, x : x + 3 * w // 4]
        Image.fromarray(crop).resize((320, 240)).save(root / "images" / f"{i:04d}.jpg", quality=90)
    (root / "texts").mkdir()
    for i in range(texts):
        words = rng.choice(WORDS, size=8)
        (root / "texts" / f"{i:04d}.txt").write_text(f"a photo of {' '.join(words)}")
    (root / "videos").mkdir()
    for i in range(videos):
        with av.open(str(root / "videos" / f"{i:02d}.mp4"), "w") as out:
            stream = out.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
            for f in range(40):  # 4 s
                frame = np.roll(photos[i % len(photos)][:240, :320], f * 4, axis=1)
                out.mux(
                    stream.encode(
                        av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                    )
                )
            out.mux(stream.encode())


def model_only(space: SpaceModel, root: Path) -> tuple[float, int]:
    from openbind.io.text import read_text

    groups = {
        "image": sorted((root / "images").iterdir()),
        "text": [read_text(p) for p in sorted((root / "texts").iterdir())],
        "video": sorted((root / "videos").iterdir()),
    }
    start = time.perf_counter()
    n = 0
    for modality, items in groups.items():
        report = space.encode_report(modality, items, progress=False)
        assert not report.errors, report.errors
        n += len(report.kept)
    return time.perf_counter() - start, n


def pipeline(space: SpaceModel, root: Path, out: Path) -> tuple[float, int]:
    from openbind.pipeline import embed_to_parquet

    out.unlink(missing_ok=True)
    start = time.perf_counter()
    summary = embed_to_parquet(space, [root], out, progress=False)
    seconds = time.perf_counter() - start
    assert not summary.skipped, summary.skipped
    return seconds, summary.embedded


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--texts", type=int, default=96)
    parser.add_argument("--videos", type=int, default=4)
    args = parser.parse_args()

    import openbind

    space = openbind.load("starter")
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "media"
        make_folder(root, args.images, args.texts, args.videos)
        out = Path(d) / "out.parquet"
        model_only(space, root)  # warm-up: first-call allocations, file cache
        runs = {"model": [], "pipeline": []}
        for _ in range(2):
            runs["model"].append(model_only(space, root))
            runs["pipeline"].append(pipeline(space, root, out))
    files = args.images + args.texts + args.videos
    best = {k: min(s for s, _ in v) for k, v in runs.items()}
    assert all(n == files for v in runs.values() for _, n in v)
    rate = {k: files / s for k, s in best.items()}
    ratio = rate["pipeline"] / rate["model"]
    print(
        f"starter, {args.images} images + {args.texts} texts + {args.videos} videos = {files} files"
    )
    print(
        f"  model (encode_report per modality)  {rate['model']:7.2f} files/s  ({best['model']:.1f} s)"
    )
    print(
        f"  pipeline (embed_to_parquet)         {rate['pipeline']:7.2f} files/s  ({best['pipeline']:.1f} s)"
    )
    print(f"  pipeline / model = {ratio:.0%} (target >= {TARGET:.0%})")
    result = {
        "machine": {"python": platform.python_version(), "cpu_count": __import__("os").cpu_count()},
        "files": {"images": args.images, "texts": args.texts, "videos": args.videos},
        "seconds": {k: [s for s, _ in v] for k, v in runs.items()},
        "files_per_second": rate,
        "ratio": ratio,
        "meets_target": ratio >= TARGET,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
