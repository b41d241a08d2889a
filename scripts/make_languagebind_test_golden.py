"""Copy the parts of the LanguageBind golden data that openbind's tests use into tests/golden.

The source (`$GOLDEN/languagebind`, produced by the original LanguageBind code, see its README) is
20 MB; the copy keeps the tests small:

* the text tower with only the token-table rows the test inputs use (`token_rows`, `token_ids`;
  the test puts them into a zero table of the full 49408 rows, which gives the same outputs);
* the model configs and tower weights as they are;
* every stored output, except that per-token hidden states keep every 8th token (`*_tokens`
  names the kept positions); the pixel inputs are not copied: the test regenerates them from
  their seed (`round(32 N(0, 1)) + 128` from `torch.Generator().manual_seed(1234)`);
* processor outputs of the media files in tests/golden/media, every 4th row and column.

Usage: python scripts/make_languagebind_test_golden.py /work/shared/golden/languagebind
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "languagebind"
MODELS = ("image", "video", "audio", "depth", "thermal", "video_lora", "audio_lora")
TOWERS = ("image", "video", "audio", "depth", "thermal")
STEP = 8


def main(src: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ids = set()
    for tower in TOWERS:
        blob = torch.load(src / "io" / f"{tower}_io.pt", weights_only=True)
        ids.update(blob["input_ids"].flatten().tolist())
    text = load_file(src / "text_tower.safetensors")
    token_ids = torch.tensor(sorted(ids))
    table = text.pop("text_model.embeddings.token_embedding.weight")
    text["token_ids"] = token_ids
    text["token_rows"] = table[token_ids].contiguous()
    text["vocab_size"] = torch.tensor(table.shape[0])
    save_file(text, OUT / "text_tower_sparse.safetensors")
    for name in MODELS:
        (OUT / "models" / name).mkdir(parents=True, exist_ok=True)
        for f in ("config.json", "tower.safetensors"):
            shutil.copyfile(src / "models" / name / f, OUT / "models" / name / f)
    (OUT / "io").mkdir(exist_ok=True)
    for tower in TOWERS:
        blob = torch.load(src / "io" / f"{tower}_io.pt", weights_only=True)
        flat = {"input_ids": blob["input_ids"], "attention_mask": blob["attention_mask"]}
        for group in ("outputs", "lora_outputs"):
            for key, value in blob.get(group, {}).items():
                values = value if isinstance(value, list) else [value]
                for i, v in enumerate(values):
                    name = f"{group}.{key}" + (f".{i}" if isinstance(value, list) else "")
                    if v.ndim == 3 and key.startswith("vision"):
                        flat[f"{name}_tokens"] = torch.arange(0, v.shape[1], STEP)
                        v = v[:, ::STEP]
                    flat[name] = v.contiguous()
        if "pos_resize" in blob:
            for key in ("pos_embed_in", "pos_embed_out"):
                flat[f"pos_resize.{key}"] = blob["pos_resize"][key].contiguous()
        save_file(flat, OUT / "io" / f"{tower}.safetensors")
    proc = torch.load(src / "processors" / "processors_io.pt", weights_only=True)
    kept = {
        k: (v[:, ::4, ::4] if v.ndim == 3 else v).contiguous()
        for k, v in proc.items()
        if "img_landscape" in k or "depth_synthetic" in k or "short_1s2" in k
    }
    save_file(kept, OUT / "processors.safetensors")
    shutil.copyfile(
        src / "processors" / "depth_synthetic_240x320_u16mm.png",
        OUT / "depth_synthetic_240x320_u16mm.png",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
