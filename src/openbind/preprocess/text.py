"""Text -> CLIP token ids: `TextConfig` and `TextTransform` (one item -> (1, context_length) int64).

The ids follow the ImageBind / OpenAI CLIP convention: `<|startoftext|>` (49406), the BPE ids of
the cleaned text truncated so that `<|endoftext|>` (49407) always fits (at index <= 76), then
padding. The tokenizer (`openbind.preprocess.tokenizer`) is built once per process, on first use.

Example:
    >>> TextTransform()("A dog.")[0, :5]
    tensor([49406,   320,  1929,   269, 49407])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from openbind.errors import BadInput, ConfigError
from openbind.io.text import read_text
from openbind.limits import DEFAULT_MAX_TEXT_CHARS
from openbind.preprocess.tokenizer import ClipTokenizer, clip_tokenizer


@dataclass(frozen=True)
class TextConfig:
    """How text becomes token ids.

    Attributes:
        context_length: ids per text, start and end tokens included (77 for CLIP models).
        pad_id: id after the end token: 0 for ImageBind / OpenAI CLIP, 49407 (the end token) for
            Hugging Face `CLIPTokenizer` models such as LanguageBind.
        unescape_html: unescape HTML entities twice before tokenising (ImageBind / OpenAI CLIP
            do; Hugging Face `CLIPTokenizer` does not).
        vocab_path: a `bpe_simple_vocab_16e6.txt.gz` to use instead of the installed one.
        max_chars: texts are cut to this many characters before tokenising, and the cut is
            recorded (`openbind.limits`); None: no cut (a 20 MB text then costs seconds).
    """

    context_length: int = 77
    pad_id: int = 0
    unescape_html: bool = True
    vocab_path: str | None = None
    max_chars: int | None = DEFAULT_MAX_TEXT_CHARS

    def __post_init__(self) -> None:
        if self.context_length < 2:
            raise ConfigError(f"TextConfig.context_length must be >= 2, got {self.context_length}")
        if self.max_chars is not None and self.max_chars < 1:
            raise ConfigError(f"TextConfig.max_chars must be >= 1 or None, got {self.max_chars}")


class TextTransform:
    """One text item -> (1, context_length) int64 token ids.

    Thread-safe; the tokenizer is shared by every transform of the process.

    Args:
        config: tokenisation settings (default: ImageBind's).

    Example:
        >>> ids = TextTransform()("a photo of a cat")  # (1, 77) int64
    """

    def __init__(self, config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()

    @property
    def tokenizer(self) -> ClipTokenizer:
        """The process-wide tokenizer (built on first use)."""
        return clip_tokenizer(self.config.vocab_path)

    def __call__(self, item: Any) -> torch.Tensor:
        """Token ids (1, context_length) of a string or a UTF-8 text file (see `read_text`).

        An integer tensor of shape (context_length,) or (1, context_length) is taken as ids
        already tokenised and passed through.

        Raises:
            BadInput: the item cannot be read as text (`DecodeError` for bad files).
            MissingExtra: the CLIP vocabulary is not installed.
        """
        if isinstance(item, torch.Tensor):  # already tokenised
            return self._checked_ids(item)
        text = read_text(item, max_chars=self.config.max_chars)
        return torch.tensor([self.ids(text)], dtype=torch.int64)

    def _checked_ids(self, ids: torch.Tensor) -> torch.Tensor:
        n = self.config.context_length
        if (
            ids.dtype.is_floating_point
            or ids.dtype == torch.bool
            or ids.shape not in ((n,), (1, n))
        ):
            raise BadInput(
                f"a tokenised text must be an integer tensor of shape ({n},) or (1, {n}); "
                f"got {ids.dtype} {tuple(ids.shape)}"
            )
        return ids.reshape(1, n).to(torch.int64)

    def ids(self, text: str) -> list[int]:
        """The padded id list of one string: start, BPE ids (truncated), end, padding."""
        tok = self.tokenizer
        n = self.config.context_length
        body = tok.encode(text, unescape_html=self.config.unescape_html)[: n - 2]
        ids = [tok.sot_id, *body, tok.eot_id]
        return ids + [self.config.pad_id] * (n - len(ids))


def tokenize(texts: Sequence[Any], config: TextConfig | None = None) -> torch.Tensor:
    """Token ids (N, context_length) int64 of several strings or text files.

    Raises:
        BadInput: an item cannot be read as text.
    """
    transform = TextTransform(config)
    rows = [transform.ids(read_text(t, max_chars=transform.config.max_chars)) for t in texts]
    return torch.tensor(rows, dtype=torch.int64).reshape(len(rows), transform.config.context_length)
