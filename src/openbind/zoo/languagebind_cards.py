"""Cards of the published LanguageBind checkpoints (plain data; importing registers them).

One registered model per Hugging Face repository `LanguageBind/<name>`, serving text plus that
checkpoint's modality, and `languagebind_large` (alias `languagebind`), one space assembled from
the Large checkpoints with a single text tower (`openbind.zoo.languagebind.build_assembled`).
Files are fetched from `https://huggingface.co/<repo>/resolve/main/<file>` into the openbind
cache and **pinned on first download** (`openbind.hub`): the hub's answer gives the commit `main`
points at and, for the weights (LFS), their sha256 and size; the bytes are checked against them,
and commit, sha256 and size are kept in the model's `hub-pins.lock`, which later loads check
(a changed remote is refused; `OPENBIND_REPIN=1` re-pins). The commits and checksums could not be
read when these cards were written (no hub access), so the cards name the branch, not a commit
(`HfRepo` needs one). `PREPROCESS` holds the transform and settings of each modality (the values
of the published configs).
"""

from __future__ import annotations

from openbind.cards import ModelCard, Parts, Preprocess, UrlFiles, WeightFile
from openbind.registry import register

HUB = "https://huggingface.co"
REVISION = "main"  # pinned on first download (openbind.hub); the commits were not readable here
LICENSE = "MIT"  # the LanguageBind repository's; its VIDAL-10M training data is CC-BY-NC-4.0

# Approximate download sizes (float32 parameters; the exact file sizes were not readable):
# CLIP ViT-L/14 vision 303 M + text 124 M; video adds 24 temporal attentions (101 M); the Huge
# video model is ViT-H/14 (632 M) + its text tower (354 M) + 32 temporal attentions (210 M).
_APPROX_BYTES = {("large", False): 1_712_000_000, ("large", True): 2_117_000_000,
                 ("huge", True): 4_784_000_000}  # fmt: skip
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

_LB = "openbind.preprocess.languagebind"


def _lb(transform: str, config: str, **settings: object) -> Preprocess:
    return Preprocess(f"{_LB}:{transform}", f"{_LB}:{config}", settings)


PREPROCESS = {
    "text": Preprocess(
        "openbind.preprocess.text:TextTransform",
        "openbind.preprocess.text:TextConfig",
        {"pad_id": 49407, "unescape_html": False},
    ),
    "image": _lb("LBImageTransform", "LBImageConfig"),
    "thermal": _lb("LBThermalTransform", "LBImageConfig"),
    "depth": _lb("LBDepthTransform", "LBDepthConfig", max_depth=10.0),
    "audio": _lb(
        "LBAudioTransform",
        "LBAudioConfig",
        sample_rate=16000,
        num_mel_bins=112,
        target_length=1036,
        mean=-4.2677393,
        std=4.5689974,
    ),
    "video": _lb("LBVideoTransform", "LBVideoConfig", frames=8),
}
"""The preprocessing of each modality (`openbind.preprocess.languagebind`), with the settings of
the published configs (audio: `LanguageBind_Audio_FT`; depth: `max_depth`; video: `num_frames`)."""


def _files(repo: str, approx_size: int = 0) -> UrlFiles:
    return UrlFiles(
        tuple(
            WeightFile(
                filename=f,
                url=f"{HUB}/LanguageBind/{repo}/resolve/{REVISION}/{f}",
                approx_size=approx_size if f.endswith(".bin") else 0,
            )
            for f in FILES
        )
    )


REPOS = {name: repo for name, repo, *_ in CHECKPOINTS}
"""openbind name -> hub repository name (under `LanguageBind/`)."""


for _name, _repo, _modality, _size, _tuning, _text in CHECKPOINTS:
    register(
        ModelCard(
            name=f"{_name}.hf",
            builder="openbind.zoo.languagebind:build",
            modalities=("text", _modality),
            dim=1024 if _size == "huge" else 768,
            weights=_files(_repo, _APPROX_BYTES[(_size, _modality == "video")]),
            license=LICENSE,
            description=f"{_text} [{_tuning} tuning]",
            arch=_size,
            preprocess={m: PREPROCESS[m] for m in ("text", _modality)},
        )
    )

ASSEMBLED = {
    "image": "languagebind_image",
    "video": "languagebind_video_ft",
    "audio": "languagebind_audio_ft",
    "depth": "languagebind_depth",
    "thermal": "languagebind_thermal",
}
"""Modality -> the checkpoint `languagebind_large` takes it from (its part, by hub name)."""

register(
    ModelCard(
        name="languagebind_large.v1",
        builder="openbind.zoo.languagebind:build_assembled",
        modalities=("text", *ASSEMBLED),
        dim=768,
        weights=Parts(
            {
                REPOS[n]: _files(REPOS[n], _APPROX_BYTES[("large", m == "video")])
                for m, n in ASSEMBLED.items()
            }
        ),
        license=LICENSE,
        description="LanguageBind Large: one text-anchored space from the per-modality checkpoints",
        aliases=("languagebind",),
        arch="large",
        preprocess=PREPROCESS,
    ),
)
