"""Cold `openbind search LIB TEXT` on the starter: import, model load and query timed apart.

Every measurement runs in a fresh Python process (nothing cached in memory; the OS file cache is
warm after the first run, as it is for a user running commands one after another):

* `import`: `import openbind.cli.main` (what every command pays);
* torch path stages: a child that times, in order, opening the library (numpy + faiss +
  SQLite), importing torch, loading the starter with only its text tower, embedding the query
  and searching;
* torch-free path stages (`fast_*`): opening the library, finding and opening the cached ONNX
  text tower (onnxruntime + tokenizers; `openbind.encoders.minilm_onnx`), embedding, searching;
* `end_to_end`: the wall time of `openbind search LIB "a cat" --json` (the torch-free path: the
  build below caches the ONNX file); `end_to_end_torch`: the same with `OPENBIND_FAST_TEXT=0`;
* `end_to_end_server`: the same command answered by a running `openbind serve` (`--server`).

Target: end to end <= 3 s. A small library of text notes is built once in a temporary home.

Usage:
    .venv/bin/python benchmarks/cli.py [--repeat 3]

Prints a table and writes benchmarks/results/cli.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "cli.json"
TARGET_S = 3.0

STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
from openbind.index import Library, resolve_library
lib = Library.open(resolve_library("bench"))
t1 = time.perf_counter()
import torch  # noqa: F401
t2 = time.perf_counter()
import openbind
space = openbind.load(lib.model_id, modalities=["text"])
t3 = time.perf_counter()
query = space.encode("text", "a cat")
t4 = time.perf_counter()
lib.search(query, k=10)
t5 = time.perf_counter()
print(json.dumps({"open_library": t1 - t0, "import_torch": t2 - t1, "load_model": t3 - t2,
                  "embed_query": t4 - t3, "search": t5 - t4}))
"""

FAST_STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
from openbind.index import Library, resolve_library
lib = Library.open(resolve_library("bench"))
t1 = time.perf_counter()
from openbind.encoders.minilm_onnx import TextQuery
text = TextQuery.for_model(lib.model_id)
assert text is not None, "no cached ONNX text tower"
t2 = time.perf_counter()
query = text.encode(["a cat"])
t3 = time.perf_counter()
lib.search(query, k=10)
t4 = time.perf_counter()
assert "torch" not in sys.modules
print(json.dumps({"fast_open_library": t1 - t0, "fast_load_onnx": t2 - t1,
                  "fast_embed_query": t3 - t2, "fast_search": t4 - t3}))
"""


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    openbind_cli = [python, "-m", "openbind"]
    with tempfile.TemporaryDirectory(prefix="openbind-cli-") as home:
        env = {**os.environ, "OPENBIND_HOME": home}
        notes = Path(home) / "notes"
        notes.mkdir()
        for i, text in enumerate(["a cat on a mat", "a dog barking", "rain on a roof", "a rocket"]):
            (notes / f"{i}.txt").write_text(text)
        subprocess.run(
            [*openbind_cli, "index", "build", str(notes), "--name", "bench", "--json"],
            check=True,
            env=env,
            capture_output=True,
        )
        rows: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            rows.setdefault("import", []).append(
                wall([python, "-c", "import openbind.cli.main"], env)
            )
            out = subprocess.run(
                [python, "-c", STAGES], check=True, env=env, capture_output=True, text=True
            ).stdout
            for key, value in json.loads(out.strip().splitlines()[-1]).items():
                rows.setdefault(key, []).append(value)
            out = subprocess.run(
                [python, "-c", FAST_STAGES], check=True, env=env, capture_output=True, text=True
            ).stdout
            for key, value in json.loads(out.strip().splitlines()[-1]).items():
                rows.setdefault(key, []).append(value)
            rows.setdefault("end_to_end", []).append(
                wall([*openbind_cli, "search", "bench", "a cat", "--json"], env)
            )
            rows.setdefault("end_to_end_torch", []).append(
                wall(
                    [*openbind_cli, "search", "bench", "a cat", "--json"],
                    {**env, "OPENBIND_FAST_TEXT": "0"},
                )
            )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [
                *openbind_cli,
                "serve",
                "--index",
                "bench",
                "--port",
                str(port),
                "--log-level",
                "error",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 300
            while time.time() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.5)
            time.sleep(1.0)
            for _ in range(args.repeat):
                rows.setdefault("end_to_end_server", []).append(
                    wall(
                        [*openbind_cli, "search", "bench", "a cat", "--json", "--server", url], env
                    )
                )
        finally:
            server.terminate()
            server.wait(30)
    result = {k: round(min(v), 3) for k, v in rows.items()}
    print(f"{'stage':20} {'best of ' + str(args.repeat) + ' (s)':>16}")
    for key, value in result.items():
        print(f"{key:20} {value:16.3f}")
    verdict = "met" if result["end_to_end"] <= TARGET_S else "missed"
    print(f"target end to end <= {TARGET_S} s: {verdict}; load average {os.getloadavg()[0]:.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"best_s": result, "runs_s": rows, "load_average": os.getloadavg()}, indent=1)
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
