"""Evaluation speed: `openbind.eval.zero_shot` on a benchmark folder vs batch embedding alone.

A folder of generated sounds in the ESC-50 layout (`openbind.data.sounds`, 12 classes) is
evaluated with the starter space:

* embed: `space.encode_report("audio", paths)`, the batch embedding of the same files;
* eval: `zero_shot(space, load_dataset(folder, "esc50"), cache_dir=<new>)`, which adds reading
  the layout, content hashing, the cache writes, the prompt ensemble (12 classes x 4 prompts)
  and the metrics.

Each is timed `--runs` times (3), alternating, and the fastest run counts. Target: eval throughput (clips/s)
within 5% of embed throughput, not counting the text encoding (the prompts and the cache's probe
sentence: a fixed cost per class set, independent of the number of clips), which is reported
apart. Then the
evaluation is run again over the same cache with other templates and with a linear probe: the
number of audio clips the space encodes must be 0.

Usage:
    .venv/bin/python benchmarks/eval.py [--per-class 20] [--batch-size 16]

Prints a table and writes benchmarks/results/eval.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "eval.json"
TARGET = 0.05


class Counting:
    """A `Space` that forwards to another and counts and times what it encodes per modality."""

    def __init__(self, space: Any) -> None:
        self.space = space
        self.model_id = space.model_id
        self.dim = space.dim
        self.items: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    @property
    def modalities(self):
        return self.space.modalities

    def logit_scale(self, modality):
        return self.space.logit_scale(modality)

    def encode(self, inputs, items=None, **kw):
        start = time.perf_counter()
        out = self.space.encode(inputs, items, **kw)
        self.seconds[str(inputs)] += time.perf_counter() - start  # the cache's probe sentence
        return out

    def features(self, inputs, items=None, **kw):
        return self.space.features(inputs, items, **kw)

    def encode_report(self, inputs, items=None, **kw):
        from openbind.types import Modality

        start = time.perf_counter()
        out = self.space.encode_report(inputs, items, **kw)
        key = Modality.parse(inputs).value
        self.items[key] += len(items)
        self.seconds[key] += time.perf_counter() - start
        return out


def make_folder(root: Path, per_class: int) -> Path:
    import csv

    from openbind.data.sounds import CATEGORIES, write_sounds

    rows = list(csv.DictReader(write_sounds(root, per_class * len(CATEGORIES), seed=11).open()))
    names = [c.name for c in CATEGORIES]
    (root / "meta").mkdir()
    with (root / "meta" / "esc50.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category"])
        for i, r in enumerate(rows):
            w.writerow([Path(r["audio"]).name, i % 5 + 1, names.index(r["label"]), r["label"]])
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=20, help="clips per class (12 classes)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (best counts)")
    args = parser.parse_args()

    import openbind
    from openbind.eval import linear_probe, load_dataset, zero_shot
    from openbind.eval.layouts import PartialDataset

    warnings.simplefilter("ignore", PartialDataset)
    space = openbind.load("starter", modalities=["text", "audio"])
    with tempfile.TemporaryDirectory() as tmp:
        root = make_folder(Path(tmp) / "sounds", args.per_class)
        paths = sorted((root / "audio").iterdir())
        n = len(paths)
        space.encode_report("audio", paths[:16], batch_size=args.batch_size)  # warm up
        embed_s, eval_s, prompt_s, audio_s = [], [], [], []
        for run in range(args.runs):
            start = time.perf_counter()
            space.encode_report("audio", paths, batch_size=args.batch_size)
            embed_s.append(time.perf_counter() - start)
            counting = Counting(space)
            start = time.perf_counter()
            data = load_dataset(root, "esc50")
            report = _zero_shot(counting, data, Path(tmp) / f"cache{run}", args.batch_size)
            eval_s.append(time.perf_counter() - start)
            prompt_s.append(counting.seconds["text"])
            audio_s.append(counting.seconds["audio"])
        # second pass over the last cache: other templates, then another protocol
        again = Counting(space)
        cache = Path(tmp) / f"cache{args.runs - 1}"
        from openbind.eval import CachedEncoder

        enc = CachedEncoder(again, cache, batch_size=args.batch_size)
        t0 = time.perf_counter()
        zero_shot(again, data, templates=["{}", "a recording of {}."], encoder=enc)
        linear_probe(again, data, encoder=enc, c_values=(1.0,))
        rerun_s = time.perf_counter() - t0

    best = min(range(args.runs), key=lambda i: eval_s[i] - prompt_s[i])
    embed, ev, prompts, audio = min(embed_s), eval_s[best], prompt_s[best], audio_s[best]
    rows = {
        "clips": n,
        "embed_clips_per_s": n / embed,
        "eval_clips_per_s": n / ev,
        "eval_clips_per_s_without_prompts": n / (ev - prompts),
        "text_encoding_s": prompts,
        "audio_encoding_in_eval_s": audio,
        "embed_s": embed,
        "eval_s": ev,
        "overhead": ev / embed - 1,
        "overhead_without_prompts": (ev - prompts) / embed - 1,
        "rerun_audio_encoded": again.items["audio"],
        "rerun_text_encoded": again.items["text"],
        "rerun_s": rerun_s,
        "top1": report.metrics["top1"],
    }
    ok_speed = rows["overhead_without_prompts"] <= TARGET
    ok_cache = rows["rerun_audio_encoded"] == 0
    print(f"{'clips':<36}{n}")
    print(f"{'batch embedding (clips/s)':<36}{rows['embed_clips_per_s']:.1f}")
    print(f"{'evaluation (clips/s)':<36}{rows['eval_clips_per_s']:.1f}")
    print(f"{'  of which text encoding (s)':<36}{prompts:.2f} (prompts and the cache probe)")
    print(f"{'  of which audio encoding (s)':<36}{audio:.2f} (batch embedding alone: {embed:.2f})")
    print(
        f"{'evaluation without text (clips/s)':<36}{rows['eval_clips_per_s_without_prompts']:.1f}"
    )
    print(
        f"{'overhead vs embedding':<36}{100 * rows['overhead']:+.1f}% "
        f"({100 * rows['overhead_without_prompts']:+.1f}% without text; target <= "
        f"{100 * TARGET:.0f}%: {'met' if ok_speed else 'MISSED'})"
    )
    print(
        f"{'re-run: audio clips encoded':<36}{rows['rerun_audio_encoded']} "
        f"({'met' if ok_cache else 'MISSED'}; {rows['rerun_text_encoded']} new prompts, "
        f"{rerun_s:.1f} s for zero-shot + linear probe)"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            rows
            | {
                "target_overhead": TARGET,
                "met_speed": ok_speed,
                "met_cache": ok_cache,
                "runs_embed_s": embed_s,
                "runs_eval_s": eval_s,
                "batch_size": args.batch_size,
                "machine": platform.platform(),
            },
            indent=1,
        )
    )


def _zero_shot(space: Any, data: Any, cache: Path, batch_size: int):
    from openbind.eval import CachedEncoder, zero_shot

    encoder = CachedEncoder(space, cache, batch_size=batch_size)
    return zero_shot(space, data, encoder=encoder)


if __name__ == "__main__":
    main()
