"""Cards of the published LanguageBind checkpoints (plain data; importing registers them).

One registered model per Hugging Face repository `LanguageBind/<name>`, serving text plus that
checkpoint's modality, and `languagebind_large` (alias `languagebind`), one space assembled from
the Large checkpoints with a single text tower (`openbind.zoo.languagebind.build_assembled`).
Files are fetched from `https://huggingface.co/<repo>/resolve/<revision>/<file>` into the openbind
cache. The checksums and sizes of the published files could not be read here (no hub access when
these cards were written), so none are pinned: the first download records its sha256, later
loads check against it (`openbind.hub`). Preprocessing settings are read from each checkpoint's
`config.json` (audio mean/std, mel bins, frames; depth `max_depth`; video `num_frames`);
`preprocess` below names the transform and its fixed choices.
"""

from __future__ import annotations

from openbind.registry import ModelEntry, WeightFile, register

HUB = "https://huggingface.co"
REVISION = "main"  # not pinned: the hub's commit ids could not be read offline
LICENSE = "MIT (LanguageBind code and weights); training data VIDAL-10M is CC-BY-NC-4.0"
FILES = ("config.json", "pytorch_model.bin")

# name, hub repository, modality, size, tuning, description
CHECKPOINTS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("languagebind_image", "LanguageBind_Image", "image", "large", "none",
     "LanguageBind image tower (= OpenCLIP ViT-L/14 DataComp, not tuned) + CLIP text"),
    ("languagebind_video", "LanguageBind_Video", "video", "large", "lora",
     "LanguageBind video, ViT-L/14 + temporal attention, LoRA r=16 (merged at load)"),
    ("languagebind_video_ft", "LanguageBind_Video_FT", "video", "large", "full",
     "LanguageBind video, ViT-L/14 + temporal attention, fully tuned; MSR-VTT R@1 42.7"),
    ("languagebind_audio", "LanguageBind_Audio", "audio", "large", "lora",
     "LanguageBind audio, ViT-L/14 on 112x1036 fbank, LoRA r=16 (merged at load)"),
    ("languagebind_audio_ft", "LanguageBind_Audio_FT", "audio", "large", "full",
     "LanguageBind audio, ViT-L/14 on 112x1036 fbank, fully tuned; ESC-50 94.0"),
    ("languagebind_depth", "LanguageBind_Depth", "depth", "large", "lora",
     "LanguageBind depth, ViT-L/14, metres/10 x3 channels; NYU-D 65.1"),
    ("languagebind_thermal", "LanguageBind_Thermal", "thermal", "large", "lora",
     "LanguageBind thermal (infrared as RGB), ViT-L/14; LLVIP 87.2"),
    ("languagebind_video_v15_ft", "LanguageBind_Video_V1.5_FT", "video", "large", "full",
     "LanguageBind video V1.5, ViT-L/14, Conv3d patches, per-frame class tokens; MSR-VTT 42.8"),
    ("languagebind_video_huge_v15_ft", "LanguageBind_Video_Huge_V1.5_FT", "video", "huge", "full",
     "LanguageBind video V1.5 Huge, ViT-H/14, 1024-d (own text tower); MSR-VTT 44.8"),
)  # fmt: skip

PREPROCESS = {
    "image": "LBImageTransform: RGB, bicubic short side 224 (no antialias), centre crop, CLIP mean/std",
    "thermal": "LBImageTransform: as image (infrared stored as RGB)",
    "depth": "LBDepthTransform: metres clipped to [0.01, max_depth] / max_depth, x3, as image",
    "audio": "LBAudioTransform: 16 kHz, fbank 112 x 1036, front/middle/back chunks, config mean/std",
    "video": "LBVideoTransform: 8 frames over the whole video, bilinear short side 224, no flip",
    "text": "TextTransform(LB_TEXT): CLIP BPE, 77 ids, padded with 49407",
}
"""The transform of each modality (`openbind.preprocess.languagebind`)."""


def _files(repo: str) -> tuple[WeightFile, ...]:
    return tuple(
        WeightFile(filename=f, url=f"{HUB}/LanguageBind/{repo}/resolve/{REVISION}/{f}")
        for f in FILES
    )


for _name, _repo, _modality, _size, _tuning, _text in CHECKPOINTS:
    register(
        ModelEntry(
            name=f"{_name}.hf",
            builder="openbind.zoo.languagebind:build",
            modalities=("text", _modality),
            dim=1024 if _size == "huge" else 768,
            weights=_files(_repo),
            license=LICENSE,
            description=_text,
            options={
                "repo": f"LanguageBind/{_repo}",
                "revision": REVISION,
                "modality": _modality,
                "size": _size,
                "tuning": _tuning,
                "merge_lora": True,
                "preprocess": {m: PREPROCESS[m] for m in ("text", _modality)},
            },
        )
    )

ASSEMBLED = {
    "image": "languagebind_image",
    "video": "languagebind_video_ft",
    "audio": "languagebind_audio_ft",
    "depth": "languagebind_depth",
    "thermal": "languagebind_thermal",
}
"""Modality -> the checkpoint `languagebind_large` takes it from."""

register(
    ModelEntry(
        name="languagebind_large.v1",
        builder="openbind.zoo.languagebind:build_assembled",
        modalities=("text", *ASSEMBLED),
        dim=768,
        weights=(),
        license=LICENSE,
        description="LanguageBind Large: one text-anchored space from the per-modality checkpoints",
        options={"checkpoints": ASSEMBLED, "preprocess": PREPROCESS},
    ),
    aliases=("languagebind",),
)
