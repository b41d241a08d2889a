"""The Python snippets of README.md and docs/design.md run as written, and print what they show.

Every ```python block runs (the blocks of one document in one namespace, like a notebook; in one
subprocess, in a folder holding the `cat.jpg` and `meow.wav`
the snippets name); a block whose comment lines right after a `print(...)` show output must print
those numbers (to 3 decimals) and words. A block preceded by `<!-- no-run: why -->` is skipped
(it needs downloaded weights).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
DOCS = ["README.md", "docs/design.md"]
BLOCK = re.compile(r"(<!-- no-run:[^>]*-->\s*)?```python\n(.*?)```", re.S)
NUMBER = re.compile(r"-?\d+\.\d+|-?\d+")
RUNNER = """
import contextlib, io, json, sys
out, scopes = [], {}
for name, code in json.loads(sys.stdin.read()):
    buf = io.StringIO()
    scope = scopes.setdefault(name.split("#")[0], {"__name__": "__main__"})  # one per document
    with contextlib.redirect_stdout(buf):
        exec(compile(code, name, "exec"), scope)
    out.append(buf.getvalue())
print(json.dumps(out))
"""


def snippets() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for k, m in enumerate(BLOCK.finditer(text)):
            if not m.group(1):
                out.append((f"{doc}#{k}", m.group(2)))
    return out


def expected_output(code: str) -> str:
    """The comment lines that follow each print(...) statement, joined."""
    lines, shown, after_print = code.splitlines(), [], False
    for line in lines:
        if line.startswith("print("):
            after_print = True
        elif after_print and line.startswith("# "):
            shown.append(line[2:])
        else:
            after_print = after_print and line.startswith((" ", ")"))
    return "\n".join(shown)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, str]:
    pytest.importorskip("skimage")
    import soundfile as sf
    from PIL import Image
    from skimage import data

    from openbind.data.sounds import render

    folder = tmp_path_factory.mktemp("snippets")
    Image.fromarray(data.chelsea()).save(folder / "cat.jpg")
    sf.write(folder / "meow.wav", render("tone", np.random.default_rng(0)), 16000)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    blocks = snippets()
    run = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(
        zip([name for name, _ in blocks], json.loads(run.stdout.splitlines()[-1]), strict=True)
    )


def test_every_snippet_runs(outputs) -> None:
    assert {name.split("#")[0] for name in outputs} == set(DOCS)


@pytest.mark.parametrize("name, code", snippets(), ids=[n for n, _ in snippets()])
def test_snippet_prints_what_it_shows(outputs, name: str, code: str) -> None:
    shown = expected_output(code)
    if not shown:
        pytest.skip("shows no output")
    got = outputs[name]
    want_numbers = [float(x) for x in NUMBER.findall(shown)]
    got_numbers = [float(x) for x in NUMBER.findall(got)]
    assert len(got_numbers) == len(want_numbers), got
    np.testing.assert_allclose(got_numbers, want_numbers, atol=1e-3, rtol=1e-3)
    assert re.findall(r"[a-z_]+", shown.lower()) == re.findall(r"[a-z_]+", got.lower())
