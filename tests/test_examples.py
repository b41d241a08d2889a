"""The examples run offline and print what they promise (one subprocess for all of them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"
RUNNER = """
import runpy, sys
for path in sys.argv[1:]:
    print(f"=== {path}", flush=True)
    runpy.run_path(path, run_name="__main__")
"""


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    pytest.importorskip("skimage")
    names = ["zero_shot.py", "retrieval.py", "composition.py"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", RUNNER, *(str(EXAMPLES / n) for n in names)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    parts = run.stdout.split("=== ")[1:]
    return {Path(p.splitlines()[0]).name: p for p in parts}


def test_zero_shot_example(outputs):
    out = outputs["zero_shot.py"]
    assert "chelsea.png: cat " in out
    assert "coffee.png: coffee " in out
    assert "rocket.png: rocket " in out
    assert "scores: logit x 30" in out


def test_retrieval_example(outputs):
    out = outputs["retrieval.py"]
    for query, photo in [("a cup of coffee", "coffee"), ("a cat", "chelsea")]:
        assert f"'{query}' -> {photo} " in out
    assert "'a rocket launch' -> rocket " in out
    assert "'a motorcycle' -> motorcycle " in out


def test_composition_example(outputs):
    lines = [line for line in outputs["composition.py"].splitlines() if "->" in line]
    assert len(lines) == 3
    assert lines[0].endswith("-> ['chelsea', 'grass', 'rocket']")
    assert "-> ['motorcycle'," in lines[2]
