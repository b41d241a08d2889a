"""Decompression bombs and other amplifications (issue 18): time and peak memory of each.

Each input runs in its own child process, which first builds the transform (or the starter's
tokenizer / the server's label check) and warms it up on a small valid input; the peak RSS
above that baseline is what the input costs. Goal: every input within 2 s and 500 MB above
the loaded model, or refused with a typed error (`LimitExceeded` / `InputError`).

Usage:
    .venv/bin/python benchmarks/bombs.py [--only NAME ...] [--keep DIR]

Inputs are made with ffmpeg (missing ffmpeg: those rows are skipped) in a temporary folder,
or in --keep DIR, where they are reused. Prints a table and writes benchmarks/results/bombs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "bombs.json"
GOAL_S, GOAL_MB = 2.0, 500.0

# name -> (what, ffmpeg arguments making the file, or None for inputs made in the child)
BOMBS: dict[str, tuple[str, list[str] | None]] = {
    "text-20mb-clip": ("20 MB text, CLIP tokenizer (TextTransform)", None),
    "text-20mb-minilm": ("20 MB text, starter's MiniLM tokenizer", None),
    "mjpeg-16000x10000.avi": (
        "1.8 MB MJPEG AVI, 2 frames of 16000 x 10000",
        ["-f", "lavfi", "-i", "color=c=blue:s=16000x10000:d=2:r=1", "-c:v", "mjpeg", "-q:v", "31"],
    ),
    "h264-8192x4320.mp4": (
        "H.264 MP4 at 8192 x 4320",
        ["-f", "lavfi", "-i", "testsrc=s=8192x4320:d=1:r=2", "-c:v", "libx264", "-crf", "40"],
    ),
    "h264-3840x2160.mp4": (
        "H.264 MP4 at 3840 x 2160, 3 s (accepted: the 4K cost)",
        ["-f", "lavfi", "-i", "testsrc=s=3840x2160:d=3:r=10", "-c:v", "libx264", "-crf", "35"],
    ),
    "hour.mp3": (
        "14 MB one-hour mp3",
        [
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3600"),
            *("-ac", "2", "-b:a", "32k"),
        ],
    ),
    "classify-5000-labels": ("/classify with 5,000 labels", None),
}


# -- the child ------------------------------------------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, path: str | None) -> dict:
    """Build the consumer, warm it up, then run the bomb; returns the measurements."""
    import numpy as np

    from openbind.errors import BadInput

    if name.startswith("text-"):
        if name.endswith("minilm"):
            from openbind.encoders.minilm import TokenizeText

            run = TokenizeText()
        else:
            from openbind.preprocess.text import TextTransform

            run = TextTransform()
        run("a warm-up sentence")
        item: object = "a dog barking " * 1_500_000
    elif name.startswith("classify"):
        from openbind.serve.service import Service

        labels = [f"label number {i}" for i in range(5000)]
        service = Service.__new__(Service)  # only the request checks: no space needed
        service.label_sets, service.max_labels = {"default": ("a", "b")}, 256

        def run(x: object) -> object:
            return service._labels(x, "default")  # type: ignore[arg-type]

        item = labels
    elif name.endswith((".avi", ".mp4")):
        from tests.io.synth_video import make_video

        from openbind.preprocess.video import VideoTransform

        run = VideoTransform()
        run(make_video(n=12, size=(64, 48)))
        item = path
    else:
        from openbind.preprocess.audio import AudioTransform

        run = AudioTransform()
        run((np.zeros(32000, np.float32), 16000))
        item = path
    baseline = _rss_mb()
    start = time.perf_counter()
    try:
        out = run(item)
        outcome = f"ok {tuple(getattr(out, 'shape', ()))}" if hasattr(out, "shape") else "ok"
    except BadInput as e:
        outcome = f"refused: {type(e).__name__}: {str(e)[-120:]}"
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 3),
        "peak_above_baseline_mb": round(_rss_mb() - baseline, 1),
        "baseline_mb": round(baseline, 1),
        "outcome": outcome,
    }


# -- the parent -----------------------------------------------------------------------------------


def make(name: str, folder: Path) -> Path | None:
    args = BOMBS[name][1]
    if args is None:
        return None
    path = folder / name
    if not path.exists():
        if shutil.which("ffmpeg") is None:
            raise FileNotFoundError("ffmpeg")
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", *args, str(path)], check=True, timeout=600
        )
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", choices=sorted(BOMBS))
    p.add_argument("--keep", type=Path, help="make the inputs here and reuse them")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        name, path = args.child
        print(json.dumps(child(name, path or None)))
        return 0

    folder = args.keep or Path(tempfile.mkdtemp(prefix="openbind-bombs-"))
    folder.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    rows = []
    for name in args.only or list(BOMBS):
        try:
            path = make(name, folder)
        except (FileNotFoundError, subprocess.SubprocessError) as e:
            print(f"{name}: skipped ({e})", file=sys.stderr)
            continue
        done = subprocess.run(
            [sys.executable, __file__, "--child", name, str(path or "")],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        if done.returncode != 0:
            result = {"outcome": f"crashed: {done.stderr.strip()[-300:]}"}
        else:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        size = path.stat().st_size if path is not None else None
        refused = result["outcome"].startswith("refused")
        within = (
            result.get("seconds", 1e9) <= GOAL_S
            and result.get("peak_above_baseline_mb", 1e9) <= GOAL_MB
        )
        rows.append(
            {
                "name": name,
                "what": BOMBS[name][0],
                "bytes": size,
                **result,
                "goal": "met" if within or (refused and within) else "missed",
            }
        )
        r = rows[-1]
        print(
            f"{name:24} {r.get('seconds', float('nan')):8.2f} s {r.get('peak_above_baseline_mb', float('nan')):8.1f} MB"
            f"  {r['goal']:6}  {r['outcome']}",
            flush=True,
        )
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    report = {
        "goal": {"seconds": GOAL_S, "peak_above_baseline_mb": GOAL_MB},
        "rows": rows,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
