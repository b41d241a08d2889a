"""Adapters that put transformers `CLIPModel` / `ClapModel` and sentence-transformers models
behind openbind's encoder contract (transform: item -> clips tensor; tower: batch -> features).

Text is tokenised into a (1, 2, L) tensor holding token ids and attention mask, padded per batch
by `PadTokens`; images go through the model's image processor after openbind's decoder; audio
is decoded, averaged to mono, resampled to the feature extractor's rate and turned into its
features. Models load from local folders (`from_pretrained(folder)`), or from the hub when the
caller is online and passes a hub name.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn

from openbind.errors import BadInput, require


def _features(out: Any) -> torch.Tensor:
    """transformers 4 returns the features, 5 a model output whose `pooler_output` holds them."""
    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output


class HFTokenize:
    """One string -> (1, 2, L) int64: token ids and attention mask (truncated to `max_tokens`)."""

    def __init__(self, tokenizer: Any, max_tokens: int = 77) -> None:
        self.tokenizer, self.max_tokens = tokenizer, max_tokens
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self._lock = threading.Lock()  # fast tokenizers are not re-entrant with truncation

    def __call__(self, item: Any) -> torch.Tensor:
        if not isinstance(item, str):
            raise BadInput(f"text items must be strings, got {type(item).__name__}")
        with self._lock:
            enc = self.tokenizer(item, truncation=True, max_length=self.max_tokens)
        ids = torch.tensor(enc["input_ids"], dtype=torch.long)
        mask = torch.tensor(enc.get("attention_mask", [1] * len(ids)), dtype=torch.long)
        return torch.stack([ids, mask])[None]  # (1, 2, L)


class PadTokens:
    """Collate (1, 2, L_i) token tensors into (N, 2, max L_i), padding ids and zero masks."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, clips: list[torch.Tensor]) -> torch.Tensor:
        longest = max(t.shape[-1] for t in clips)
        out = torch.zeros(len(clips), 2, longest, dtype=torch.long)
        out[:, 0] = self.pad_id
        for k, t in enumerate(clips):
            out[k, :, : t.shape[-1]] = t[0]
        return out


class HFImageTransform:
    """Image item -> (1, 3, H, W) pixel values from the model's image processor."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, item: Any) -> torch.Tensor:
        from openbind.io.image import load_image

        image = load_image(item)
        return self.processor(images=image, return_tensors="pt")["pixel_values"]


class HFAudioTransform:
    """Audio item -> the feature extractor's `input_features` for one clip (mono, resampled)."""

    def __init__(self, extractor: Any) -> None:
        self.extractor = extractor
        self.rate = int(extractor.sampling_rate)

    def __call__(self, item: Any) -> torch.Tensor:
        from openbind.io.audio import load_audio
        from openbind.preprocess.resample import resample

        wave = load_audio(item)
        mono = resample(torch.from_numpy(wave.samples).float().mean(0), wave.sample_rate, self.rate)
        feats = self.extractor(mono.numpy(), sampling_rate=self.rate, return_tensors="pt")
        return feats["input_features"]  # (1, ...)


class CLIPTextTower(nn.Module):
    """(N, 2, L) ids + mask -> (N, D) projected text features of a CLIP-like model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.logit_scale = float(model.logit_scale.detach().exp())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_text_features(input_ids=x[:, 0], attention_mask=x[:, 1]))


class CLIPImageTower(nn.Module):
    """(N, 3, H, W) pixels -> (N, D) projected image features."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.logit_scale = float(model.logit_scale.detach().exp())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_image_features(pixel_values=x))


class ClapAudioTower(nn.Module):
    """(N, 1, T, F) log-mel features -> (N, D) projected CLAP audio features."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.logit_scale = float(model.logit_scale_a.detach().exp())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_audio_features(input_features=x))


class ClapTextTower(CLIPTextTower):
    """CLAP's text side: as CLIP's, with CLAP's text logit scale."""

    def __init__(self, model: nn.Module) -> None:
        nn.Module.__init__(self)
        self.model = model
        self.logit_scale = float(model.logit_scale_t.detach().exp())


class SentenceTower(nn.Module):
    """(N, 2, L) ids + mask -> (N, D) sentence embeddings of a sentence-transformers model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.logit_scale = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model({"input_ids": x[:, 0], "attention_mask": x[:, 1]})["sentence_embedding"]


def load_clip(folder: str | Path) -> tuple[nn.Module, Any, Any]:
    """(CLIPModel, tokenizer, image processor) from a folder or hub name."""
    transformers = require("transformers", "starter")
    model = transformers.CLIPModel.from_pretrained(str(folder)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    processor = transformers.AutoImageProcessor.from_pretrained(str(folder))
    return model, tokenizer, processor


def load_clap(folder: str | Path) -> tuple[nn.Module, Any, Any]:
    """(ClapModel, tokenizer, feature extractor) from a folder or hub name."""
    transformers = require("transformers", "starter")
    model = transformers.ClapModel.from_pretrained(str(folder)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    extractor = transformers.AutoFeatureExtractor.from_pretrained(str(folder))
    return model, tokenizer, extractor


def load_sentence_transformer(name: str | Path) -> nn.Module:
    """A sentence-transformers model from a folder or hub name."""
    st = require("sentence_transformers", "experts")
    return st.SentenceTransformer(str(name), device="cpu").eval()
