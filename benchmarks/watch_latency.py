"""Live updates: seconds from a file appearing in a watched folder to its being searchable.

A library of a few text notes is built with the starter (or `--space toy`, a hash space that
needs no weights). `watch_library` follows its folder in a thread, as `openbind index watch` and
`openbind serve --watch` do; a separate reader `Library` (a server's view) polls `reload` and
looks the new file up. Each round writes one new note (and one PNG with the starter) and
records the time until the reader finds it. Target: <= 2 s.

Usage:
    .venv/bin/python benchmarks/watch_latency.py [--rounds 5] [--space starter|toy]

Prints a table and writes benchmarks/results/watch_latency.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "watch_latency.json"
TARGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--space", choices=("starter", "toy"), default="starter")
    args = parser.parse_args()
    from openbind.index import Library
    from openbind.pipeline import build_library
    from openbind.pipeline.watch import watch_library

    if args.space == "toy":
        import sys

        sys.path.insert(0, str(Path(__file__).parents[1]))
        from tests.pipeline.toy_space import make_space

        space = make_space()
    else:
        import openbind

        space = openbind.load("starter", modalities=["text", "image"])
    with tempfile.TemporaryDirectory(prefix="openbind-watch-") as tmp:
        root = Path(tmp) / "media"
        root.mkdir()
        (root / "first.txt").write_text("a first note")
        lib, _ = build_library(space, Path(tmp) / "lib", [root], progress=False)
        reader = Library.open(lib.path)
        stop = threading.Event()
        thread = threading.Thread(
            target=watch_library, args=(space, lib), kwargs={"stop": stop, "debounce_ms": 100}
        )
        thread.start()
        time.sleep(1.0)
        latencies: dict[str, list[float]] = {}
        try:
            for r in range(args.rounds):
                files = {"text": (root / f"note{r}.txt", f"note number {r} about a cat".encode())}
                if args.space == "starter":
                    from PIL import Image

                    buf = io.BytesIO()
                    Image.new("RGB", (64, 64), (40 * r % 255, 90, 200)).save(buf, format="PNG")
                    files["image"] = (root / f"pic{r}.png", buf.getvalue())
                for kind, (path, data) in files.items():
                    start = time.perf_counter()
                    path.write_bytes(data)
                    while True:
                        reader.reload()
                        if reader.find({"path_prefix": str(path.resolve())}):
                            break
                        if time.perf_counter() - start > 60:
                            raise SystemExit(f"{path.name} never became searchable")
                        time.sleep(0.01)
                    latencies.setdefault(kind, []).append(time.perf_counter() - start)
        finally:
            stop.set()
            thread.join(30)
    print(f"{'file':8} {'median s':>9} {'max s':>7}   (target <= {TARGET_S} s)")
    summary = {}
    for kind, values in latencies.items():
        values.sort()
        summary[kind] = {
            "median_s": round(values[len(values) // 2], 3),
            "max_s": round(values[-1], 3),
        }
        print(f"{kind:8} {summary[kind]['median_s']:9.3f} {summary[kind]['max_s']:7.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "space": args.space,
                "summary": summary,
                "runs_s": latencies,
                "load_average": os.getloadavg(),
            },
            indent=1,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
