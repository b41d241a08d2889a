"""Expert spaces for fusion, built from `openbind.encoders.experts`.

* `resemblyzer_speaker.v1`: the GE2E speaker encoder (audio only, 256-d) whose weights ship in
  the `resemblyzer` wheel (`pip install --no-deps resemblyzer`); voices, not words.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openbind.cards import ModelCard
from openbind.space.encoder import Encoder
from openbind.space.model import SpaceModel
from openbind.types import Modality

if TYPE_CHECKING:
    import torch


def build_speaker(
    entry: ModelCard, *, modalities: Sequence[Modality], weights: str | Path | None = None
) -> SpaceModel:
    """The speaker space (the `openbind.load` builder); `weights` is another `pretrained.pt`."""
    from openbind.encoders.experts.speaker import SpeakerFrontEnd, load_speaker_tower

    encoder = Encoder(load_speaker_tower(weights), SpeakerFrontEnd())
    return SpaceModel(entry.name, {Modality.AUDIO: encoder}, entry.dim, batch_size=16)


def _text_encoder(tower: torch.nn.Module, tok: Any) -> Encoder:
    """A Hugging Face text tower with its tokenizer; ids are padded per batch with its pad id."""
    from openbind.encoders.experts.hf import PadTokens

    return Encoder(tower, tok, PadTokens(tok.pad_id))


def clip_space(folder: str | Path, model_id: str = "", max_tokens: int = 77) -> SpaceModel:
    """A transformers `CLIPModel` (image + text) as a space, from a folder or hub name."""
    from openbind.encoders.experts.hf import (
        CLIPImageTower,
        CLIPTextTower,
        HFImageTransform,
        HFTokenize,
        load_clip,
    )

    model, tokenizer, processor = load_clip(folder)
    tok = HFTokenize(tokenizer, max_tokens)
    return SpaceModel(
        model_id or f"clip_{Path(str(folder)).name}.local",
        {
            Modality.TEXT: _text_encoder(CLIPTextTower(model), tok),
            Modality.IMAGE: Encoder(CLIPImageTower(model), HFImageTransform(processor)),
        },
        int(model.config.projection_dim),
    )


def clap_space(folder: str | Path, model_id: str = "", max_tokens: int = 77) -> SpaceModel:
    """A transformers `ClapModel` (audio + text) as a space, from a folder or hub name."""
    from openbind.encoders.experts.hf import (
        ClapAudioTower,
        ClapTextTower,
        HFAudioTransform,
        HFTokenize,
        load_clap,
    )

    model, tokenizer, extractor = load_clap(folder)
    tok = HFTokenize(tokenizer, max_tokens)
    return SpaceModel(
        model_id or f"clap_{Path(str(folder)).name}.local",
        {
            Modality.TEXT: _text_encoder(ClapTextTower(model), tok),
            Modality.AUDIO: Encoder(ClapAudioTower(model), HFAudioTransform(extractor)),
        },
        int(model.config.projection_dim),
    )


def sentence_space(name: str | Path, model_id: str = "") -> SpaceModel:
    """A sentence-transformers model (text only) as a space, from a folder or hub name."""
    from openbind.encoders.experts.hf import (
        HFTokenize,
        SentenceTower,
        load_sentence_transformer,
    )

    model = load_sentence_transformer(name)
    tok = HFTokenize(model.tokenizer, int(model.max_seq_length))
    getter = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    dim = int(getter())
    return SpaceModel(
        model_id or f"st_{Path(str(name)).name}.local",
        {Modality.TEXT: _text_encoder(SentenceTower(model), tok)},
        dim,
    )
