"""A writer killed with SIGKILL at any point of a commit leaves the previous library readable.

Each test runs a writer in a subprocess, stops it at a chosen point of `commit` (a patched step
touches a marker file and sleeps), kills it with SIGKILL, and then opens the library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from openbind.index import Library, Record

WRITER = """
import os, sys, time
from pathlib import Path
import numpy as np
import openbind.index.library as L
from openbind.index import Library, Record

lib_path, marker, point = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def stop():
    marker.write_text("here")
    time.sleep(60)

if point == "vectors":  # half of the new segment written
    def write_segment(folder, name, ids, vectors):
        (folder / f".{name}.vec.npy.tmp-1").write_bytes(b"NUMPY" * 1000)
        (folder / f"{name}.ids.npy").write_bytes(b"NUMPY")
        stop()
    L.write_segment = write_segment
elif point in ("before-current", "current-tmp"):  # generation renamed, CURRENT not yet swapped
    real_write = L.write_text_atomic
    def write_text_atomic(path, text):
        if Path(path).name == "CURRENT":
            if point == "current-tmp":
                (Path(path).parent / ".CURRENT.tmp-1").write_text("gen-9")
            stop()
        real_write(path, text)
    L.write_text_atomic = write_text_atomic

lib = Library.open(lib_path)
rng = np.random.default_rng(1)
v = rng.normal(size=(500, 16)).astype(np.float32)
v /= np.linalg.norm(v, axis=1, keepdims=True)
lib.remove([0, 1, 2])
lib.add(v, [Record(f"new{i}", "image") for i in range(500)])
if point == "loop":
    marker.write_text("here")
    while True:
        lib.add(v[:1], [Record(f"loop{time.time_ns()}", "text")])
        lib.commit()
lib.commit()
"""


def unit(n: int, d: int) -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_library(path: Path) -> Library:
    lib = Library.create(path, model_id="toy", dim=16)
    lib.add(unit(10, 16), [Record(f"f{i}", "image") for i in range(10)])
    lib.commit()
    return lib


def kill_writer_at(tmp_path: Path, lib: Path, point: str, delay: float = 0.0) -> None:
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    marker = tmp_path / f"marker-{point}"
    proc = subprocess.Popen([sys.executable, str(script), str(lib), str(marker), point])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, f"writer exited early with {proc.returncode}"
            assert time.monotonic() < deadline, "writer never reached the kill point"
            time.sleep(0.02)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("point", ["vectors", "before-current", "current-tmp"])
def test_kill_mid_commit_keeps_previous_generation(tmp_path, point):
    make_library(tmp_path / "lib")
    kill_writer_at(tmp_path, tmp_path / "lib", point)

    lib = Library.open(tmp_path / "lib")
    assert len(lib) == 10 and lib.manifest.generation == 2
    assert [r.path for r in lib.records()] == [f"f{i}" for i in range(10)]
    assert lib.search(unit(10, 16)[3], k=1)[0].path == "f3"

    # the lock died with the writer: a new writer cleans up and commits
    lib.remove([0])
    lib.add(unit(11, 16)[10:], [Record("f10", "image")])
    lib.commit()
    again = Library.open(tmp_path / "lib")
    assert len(again) == 10 and again.search(unit(11, 16)[10], k=1)[0].path == "f10"
    assert [r.path for r in again.records()] == [f"f{i}" for i in range(1, 11)]
    assert not list((tmp_path / "lib").glob(".staging-*"))
    assert not [p for p in (tmp_path / "lib" / "segments").iterdir() if p.name.startswith(".")]


def test_kill_during_repeated_commits_leaves_a_complete_generation(tmp_path):
    make_library(tmp_path / "lib")
    kill_writer_at(tmp_path, tmp_path / "lib", "loop", delay=1.0)
    lib = Library.open(tmp_path / "lib")
    # generation 3 holds 10 - 3 + 500 + 1 items, and each later generation one more
    n = len(lib)
    assert n >= 508
    assert len(lib.records()) == n == lib.manifest.count
    assert len([r for r in lib.records() if r.path.startswith("loop")]) == n - 507
    # each commit adds one generation; a background compaction (more than MAX_SEGMENTS
    # segments, reached when the writer is fast) adds generations of its own
    assert lib.manifest.generation >= n - 508 + 3
