"""Helpers for the LanguageBind golden tests: published-style checkpoint folders and stored outputs.

`tests/golden/languagebind` is a reduced copy of the golden data of the original code
(`scripts/make_languagebind_test_golden.py` says what was kept); `video_v15` was made with the
original code by `scripts/make_languagebind_v15_golden.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "languagebind"
TOWER_OF = {
    "image": "image",
    "video": "video",
    "video_v15": "video",
    "audio": "audio",
    "depth": "depth",
    "thermal": "thermal",
    "video_lora": "video",
    "audio_lora": "audio",
}
IO_OF = {name: tower for name, tower in TOWER_OF.items()} | {"video_v15": "video_v15"}
"""Golden model -> its io file (V1.5 has its own, made by scripts/make_languagebind_v15_golden.py)."""
PIXEL_SHAPES = {
    "image": (2, 3, 224, 224),
    "video": (2, 3, 8, 224, 224),
    "audio": (2, 3, 112, 1036),
    "depth": (2, 3, 224, 224),
    "thermal": (2, 3, 224, 224),
}


def text_state() -> dict[str, torch.Tensor]:
    """The shared text tower with its full (zero-filled) token table."""
    state = load_file(GOLDEN / "text_tower_sparse.safetensors")
    ids, rows = state.pop("token_ids"), state.pop("token_rows")
    table = torch.zeros(int(state.pop("vocab_size")), rows.shape[1])
    table[ids] = rows
    state["text_model.embeddings.token_embedding.weight"] = table
    return state


def write_folder(name: str, root: Path, *, drop: tuple[str, ...] = ()) -> Path:
    """A published-style Hugging Face folder of golden model `name`: config.json + model.safetensors."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((GOLDEN / "models" / name / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config))
    state = text_state()
    state.update(load_file(GOLDEN / "models" / name / "tower.safetensors"))
    for key in drop:
        state.pop(key)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def pixel_values() -> dict[str, torch.Tensor]:
    """The stored model inputs, regenerated from their seed (exact)."""
    g = torch.Generator().manual_seed(1234)
    out = {}
    for tower, shape in PIXEL_SHAPES.items():
        u8 = (torch.randn(shape, generator=g) * 32).round().clamp(-128, 127) + 128
        out[tower] = (u8 - 128) / 32
    return out


def outputs(tower: str) -> dict[str, torch.Tensor]:
    """The stored inputs/outputs of `tower` (`outputs.*`, `lora_outputs.*`, `input_ids`, ...)."""
    return load_file(GOLDEN / "io" / f"{tower}.safetensors")
