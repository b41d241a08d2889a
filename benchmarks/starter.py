"""Throughput of the starter space beside the bare models it wraps, in the same run.

    python benchmarks/starter.py [--threads 2] [--quick]

Rows: text sentences/s (openbind `encode` vs sentence-transformers `encode` on the same strings),
images/s (openbind from JPEG files, decoding included, vs EfficientNet-Lite0 forward on the same
images already preprocessed) and video seconds/s (openbind from MP4 files: 8 frames per video
through the image path). Prints a table and writes benchmarks/results/starter.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "starter.json"
WORDS = [
    "a",
    "the",
    "cat",
    "dog",
    "photo",
    "of",
    "small",
    "large",
    "red",
    "blue",
    "green",
    "man",
    "woman",
    "child",
    "playing",
    "running",
    "on",
    "in",
    "at",
    "with",
    "near",
    "beach",
    "street",
    "city",
    "mountain",
    "river",
    "car",
    "bicycle",
    "motorcycle",
    "coffee",
    "cup",
    "table",
    "kitchen",
    "sunset",
    "night",
    "snow",
    "rain",
    "old",
    "new",
    "wooden",
    "stone",
    "glass",
    "bright",
    "dark",
    "happy",
    "quiet",
    "loud",
    "music",
    "guitar",
]


def sentences(n: int, seed: int = 0) -> list[str]:
    """n pseudo-captions of 4 to 30 words."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(4, 30))) for _ in range(n)]


def image_files(folder: Path, n: int) -> list[Path]:
    """n JPEG files (scikit-image photos, cropped differently), 300-512 px."""
    from PIL import Image
    from skimage import data

    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    paths = []
    for i in range(n):
        a = sources[i % len(sources)]
        crop = a[i % 37 :, i % 53 :]
        path = folder / f"img{i:03d}.jpg"
        Image.fromarray(np.ascontiguousarray(crop)).save(path, quality=90)
        paths.append(path)
    return paths


def video_files(folder: Path, n: int, seconds: float = 5.0, fps: int = 25) -> list[Path]:
    """n 320x240 H.264 videos panning over a photo."""
    import av
    from skimage import data

    photo = data.astronaut()
    paths = []
    for v in range(n):
        path = folder / f"vid{v}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
            for i in range(int(seconds * fps)):
                x = (i + 17 * v) % 190
                frame = np.ascontiguousarray(photo[100 : 100 + 240, x : x + 320])
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        paths.append(path)
    return paths


def rates(
    ours: Callable[[], object], bare: Callable[[], object] | None, units: float, repeats: int
) -> tuple[float, float | None]:
    """Best units/s of each, timed in alternation (after one warm-up) so load hits both alike."""
    best = {"ours": float("inf"), "bare": float("inf")}
    runs = {"ours": ours, "bare": bare} if bare is not None else {"ours": ours}
    for run in runs.values():
        run()
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return units / best["ours"], (units / best["bare"] if bare is not None else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small inputs, one repeat")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_text, n_img, n_vid, repeats = (128, 16, 1, 1) if args.quick else (1024, 64, 4, 3)

    from sentence_transformers import SentenceTransformer

    import openbind
    from openbind.encoders.efficientnet import efficientnet_lite0
    from openbind.encoders.minilm import minilm_path

    space = openbind.load("starter")
    bare_text = SentenceTransformer(str(minilm_path()), device="cpu")
    bare_image = efficientnet_lite0()
    texts = sentences(n_text)
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        images = image_files(Path(tmp), n_img)
        videos = video_files(Path(tmp), n_vid)
        ready = torch.cat([space.preprocess("image", p) for p in images])  # (n_img, 3, 224, 224)

        def bare_images() -> None:
            with torch.inference_mode():
                for start in range(0, n_img, 16):
                    bare_image(ready[start : start + 16])

        ob_text, st_text = rates(
            lambda: space.encode("text", texts, batch_size=32),
            lambda: bare_text.encode(texts, batch_size=32),
            n_text,
            repeats,
        )
        rows.append(("text", "sentences/s", ob_text, st_text))
        ob_img, bare_img = rates(
            lambda: space.encode("image", images, batch_size=16), bare_images, n_img, repeats
        )
        rows.append(("image", "images/s", ob_img, bare_img))
        ob_vid, _ = rates(
            lambda: space.encode("video", videos, batch_size=4), None, 5.0 * n_vid, repeats
        )
        rows.append(("video", "video s/s", ob_vid, None))

    load = (round(load_before, 1), round(os.getloadavg()[0], 1))
    print(f"starter throughput, {args.threads} threads, torch {torch.__version__}, load {load}")
    print("| modality | unit | openbind | bare model | ratio |")
    print("|---|---|---|---|---|")
    for modality, unit, ours, bare in rows:
        ratio = f"{ours / bare:.0%}" if bare else "-"
        bare_text_s = f"{bare:.1f}" if bare else "-"
        print(f"| {modality} | {unit} | {ours:.1f} | {bare_text_s} | {ratio} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before_after": load,
        "inputs": {"sentences": n_text, "images": n_img, "videos": n_vid, "video_seconds": 5.0},
        "rows": [
            {"modality": m, "unit": u, "openbind": round(o, 2), "bare": round(b, 2) if b else None}
            for m, u, o, b in rows
        ],
    }
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
