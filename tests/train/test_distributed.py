"""DDP on 2 CPU processes (gloo, 127.0.0.1) follows the single-process loss curve of the same global batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from openbind.data.synth import write_world

RECIPE = """
data: {{train: {manifest}, val_fraction: 0.2}}
model:
  anchor: text
  dim: 32
  towers:
    image: {{kind: conv_image, widths: [8, 16], image_size: 32}}
    text: {{kind: token_text, widths: [32]}}
  trainable: [image, text]
optim: {{lr: 0.003, warmup_steps: 2}}
loop: {{steps: 6, eval_every: 0, save_every: 3, log_every: 1, progress: false, threads: 1}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(folder: Path) -> list[float]:
    lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    return [x["loss"] for x in lines if "loss" in x]


def test_two_process_ddp_matches_one_process_on_the_same_global_batch(tmp_path):
    manifest = write_world(tmp_path / "world", 80, seed=4, size=32, modalities=("image", "text"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(manifest=manifest))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = [
        sys.executable,
        "-m",
        "openbind",
        "train",
        str(recipe),
        "data.batch_size=16",
        f"loop.out={tmp_path / 'one'}",
    ]
    subprocess.run(single, check=True, timeout=180, env=env, capture_output=True)
    torchrun = Path(sys.executable).with_name("torchrun")
    ddp = [
        str(torchrun), "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "-m", "openbind", "train", str(recipe), "data.batch_size=8", f"loop.out={tmp_path / 'two'}",
    ]  # fmt: skip
    done = subprocess.run(ddp, timeout=240, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 6
    assert one[-1] < one[0]  # it trains
    assert two == pytest.approx(one, rel=1e-3)  # float summation order differs; measured 2.4e-4
