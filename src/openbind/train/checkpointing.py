"""Training checkpoints: model, optimiser, scheduler, step and RNG states, written atomically.

A checkpoint file is `MAGIC + sha256(payload) + payload`, where the payload is a `torch.save`
archive of plain containers and tensors (loaded with `weights_only=True`). It is written to a
temporary file in the same folder, flushed and fsynced, then renamed over the old one, so a crash
mid-write keeps the previous checkpoint; a truncated or bit-flipped file fails the checksum and
raises `WeightsError` instead of resuming from garbage.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openbind.atomic import write_atomic
from openbind.errors import WeightsError

MAGIC = b"OBCKPT1\n"
LAST = "last.ckpt"
BEST = "best.ckpt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).digest()
    write_atomic(path, lambda f: f.writelines((MAGIC, digest, payload)))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`.

    Raises:
        WeightsError: the file is missing, not a checkpoint, truncated or corrupted.
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read checkpoint {path}: {e}") from None
    head = len(MAGIC) + 32
    if len(blob) < head or not blob.startswith(MAGIC):
        raise WeightsError(f"{path} is not an openbind training checkpoint (or is truncated)")
    digest, payload = blob[len(MAGIC) : head], blob[head:]
    if hashlib.sha256(payload).digest() != digest:
        raise WeightsError(
            f"checkpoint {path} is corrupted (checksum mismatch, {len(blob)} bytes); "
            f"delete it to start over, or restore it from a copy"
        )
    try:
        return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as e:
        raise WeightsError(f"checkpoint {path} cannot be loaded: {e}") from None


def rng_state() -> dict[str, Any]:
    """The torch, numpy and Python RNG states, as plain containers."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by `rng_state`."""
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
