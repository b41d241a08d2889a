"""Make the LanguageBind Video V1.5 golden files with the ORIGINAL LanguageBind code.

Not needed at test time: it writes `tests/golden/languagebind/models/video_v15/` (config.json +
tower.safetensors, published key layout) and `tests/golden/languagebind/io/video_v15.safetensors`
(inputs and outputs of the original model), which `tests/zoo/test_languagebind_golden.py` checks.

The original code is PKU-YuanGroup/LanguageBind at 7070c53375661cdb235801176b564b45f96f0648
(`git archive HEAD | tar -x -C SRC`), imported through a stub parent package so that its
`languagebind/__init__.py` (torchvision, decord, ...) is not run. It needs the repo's pins, so run
this in a scratch venv OUTSIDE the project: transformers 4.30.2, tokenizers 0.13.3, peft 0.4.0,
einops, safetensors, numpy < 2, and torch 2.13.0+cpu (e.g. a `.pth` file that appends the project
venv's site-packages after the scratch venv's own)::

    python3.11 -m venv /tmp/lbvenv
    /tmp/lbvenv/bin/pip install transformers==4.30.2 tokenizers==0.13.3 peft==0.4.0 einops \
        safetensors "numpy<2"          # then remove the torch it pulled, add the .pth
    /tmp/lbvenv/bin/python scripts/make_languagebind_v15_golden.py /tmp/lbsrc

The model follows the recipe of the other golden models (README of the shared golden data):
the tiny `video` config plus `clip_type "vl_new"` (Conv3d patch embedding with a time kernel of 1,
one class embedding per frame), `torch.manual_seed(2)`, every all-ones 1-D parameter set to
`1 + 0.1 N(0, 1)` and every all-zero one to `0.05 N(0, 1)` (generator seed 102, in
`named_parameters()` order), `logit_scale` 4.45, the shared text tower of the golden set. One
addition: the repo's `expand3d` repeats ONE random class vector for all frames, which would hide a
wrong frame-to-row assignment, so every row gets `0.1 N(0, 1)` more (generator seed 202). Inputs:
the golden video pixels (`round(32 N(0, 1)) + 128` from seed 1234, (u8 - 128) / 32) and texts.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' golden helpers
from tests.zoo.languagebind_golden import GOLDEN, text_state

NAME = "video_v15"
SEED = 2
LOGIT_SCALE = 4.45
STEP = 8  # keep every 8th token of per-token hidden states, as the other io files


def _import_original(src: Path) -> types.ModuleType:
    stub = types.ModuleType("languagebind")
    stub.__path__ = [str(src / "languagebind")]
    sys.modules["languagebind"] = stub
    from languagebind.video import modeling_video  # type: ignore[import-not-found]

    return modeling_video


def _video_pixels() -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    shapes = {"image": (2, 3, 224, 224), "video": (2, 3, 8, 224, 224)}
    for tower, shape in shapes.items():
        u8 = (torch.randn(shape, generator=g) * 32).round().clamp(-128, 127) + 128
        if tower == "video":
            return (u8 - 128) / 32
    raise AssertionError


def main(src: Path) -> None:
    torch.set_num_threads(1)
    mv = _import_original(src)
    config_dict = json.loads((GOLDEN / "models" / "video" / "config.json").read_text())
    config_dict["vision_config"]["clip_type"] = "vl_new"
    config = mv.LanguageBindVideoConfig.from_dict(config_dict)
    torch.manual_seed(SEED)
    model = mv.LanguageBindVideo(config).eval()
    g = torch.Generator().manual_seed(100 + SEED)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.ndim == 1 and bool((p == 1).all()):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1 and bool((p == 0).all()):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
        cls = model.vision_model.embeddings.class_embedding  # (T, D), rows identical after expand3d
        cls.add_(0.1 * torch.randn(cls.shape, generator=torch.Generator().manual_seed(200 + SEED)))
        model.logit_scale.fill_(LOGIT_SCALE)
    missing, unexpected = model.load_state_dict(text_state(), strict=False)
    assert not unexpected and all(not k.startswith("text_") for k in missing), unexpected

    io_video = load_file(GOLDEN / "io" / "video.safetensors")
    ids, mask = io_video["input_ids"], io_video["attention_mask"]
    x = _video_pixels()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, pixel_values=x, return_dict=True)
        vision = model.vision_model(pixel_values=x, return_dict=True)
        text_features = model.get_text_features(input_ids=ids, attention_mask=mask)
        image_features = model.get_image_features(pixel_values=x)
        text_pooled = model.text_model(input_ids=ids, attention_mask=mask).pooler_output
    scale = model.logit_scale.exp()
    hidden = vision.last_hidden_state  # (B*T, 257, D), before post_layernorm
    flat = {
        "input_ids": ids,
        "attention_mask": mask,
        "outputs.text_features": text_features,
        "outputs.text_embeds": out.text_embeds,
        "outputs.text_pooled": text_pooled,
        "outputs.image_features": image_features,
        "outputs.image_embeds": out.image_embeds,
        "outputs.vision_pooled": vision.pooler_output,
        "outputs.vision_last_hidden_state": hidden[:, ::STEP],
        "outputs.vision_last_hidden_state_tokens": torch.arange(0, hidden.shape[1], STEP),
        "outputs.logits_per_text": out.logits_per_text,
        "outputs.logits_per_image": out.logits_per_image,
        "outputs.logit_scale": model.logit_scale.detach().clone(),
        "outputs.logit_scale_exp": scale.detach(),
        "outputs.wrapper_use_temp_modality_embeds": out.image_embeds * scale,
    }
    flat = {k: v.detach().contiguous() for k, v in flat.items()}
    (GOLDEN / "io").mkdir(exist_ok=True)
    save_file(flat, GOLDEN / "io" / f"{NAME}.safetensors")
    folder = GOLDEN / "models" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"
    )
    tower = {
        k: v.detach().contiguous()
        for k, v in model.state_dict().items()
        if not k.startswith(("text_model.", "text_projection."))
    }
    save_file(tower, folder / "tower.safetensors", metadata={"format": "pt"})
    print(f"wrote {folder} ({len(tower)} tensors) and io/{NAME}.safetensors")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
