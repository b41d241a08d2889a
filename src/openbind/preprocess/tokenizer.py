"""CLIP byte-level BPE tokeniser (Radford et al. 2021, "Learning Transferable Visual Models From
Natural Language Supervision"), written for openbind.

The vocabulary is OpenAI's `bpe_simple_vocab_16e6.txt.gz` (49,408 ids: 256 byte symbols, the same
with an end-of-word marker `</w>`, 48,894 merges, `<|startoftext|>` 49406, `<|endoftext|>` 49407).
openbind does not ship it: it is read from an installed package that does (`open_clip_torch`,
installed without its dependencies, or OpenAI's `clip`), without importing that package.

Cleaning follows the CLIP reference: `ftfy.fix_text`, `html.unescape` twice, whitespace collapsed,
lower case. Word splitting uses the CLIP regular expression; each word is BPE-merged once per
process (memoised).
"""

from __future__ import annotations

import functools
import gzip
import html
import importlib.util
import itertools
import threading
from pathlib import Path

from openbind.errors import MissingExtra

SOT = "<|startoftext|>"
EOT = "<|endoftext|>"
VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
_N_MERGES = VOCAB_SIZE - 2 * 256 - 2  # 48,894 merge rules follow the header line
_INSTALL_HINT = "pip install --no-deps open_clip_torch==3.3.0"
# Packages known to ship the vocabulary file at their top level, tried in this order.
_VOCAB_PACKAGES = ("open_clip", "clip")
_WORD_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
_BPE_CACHE_SIZE = 1 << 17


def byte_symbols() -> dict[int, str]:
    """The reversible byte -> printable unicode character table of byte-level BPE (GPT-2 / CLIP).

    Printable Latin-1 bytes map to themselves; the other 68 bytes map to code points 256, 257, ...
    in byte order, so that no symbol is whitespace or a control character. The dict order (printable
    bytes first) is the order of the first 256 vocabulary ids.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += list(range(ord("®"), ord("ÿ") + 1))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def find_vocab() -> Path:
    """Path of the CLIP BPE vocabulary inside an installed package (the package is not imported).

    Raises:
        MissingExtra: no installed package ships the file; the message says what to install.
    """
    for package in _VOCAB_PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            path = Path(folder) / VOCAB_FILE
            if path.is_file():
                return path
    raise MissingExtra(
        f"the CLIP BPE vocabulary ({VOCAB_FILE}) is needed to tokenise text and no installed "
        f"package provides it; install it with: {_INSTALL_HINT}"
    )


class ClipTokenizer:
    """Text -> CLIP BPE token ids (without start/end tokens, padding or truncation).

    Thread-safe: the only mutable state is the memo of merged words (a thread-safe LRU cache).
    Build it with `clip_tokenizer()`, which reads the vocabulary once per process.

    Args:
        vocab_path: the gzipped merges file (`bpe_simple_vocab_16e6.txt.gz`).

    Raises:
        MissingExtra: the file cannot be read or is not the CLIP vocabulary.
    """

    def __init__(self, vocab_path: str | Path) -> None:
        import regex

        try:
            with gzip.open(vocab_path, "rt", encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (OSError, EOFError, UnicodeDecodeError) as e:
            raise MissingExtra(
                f"cannot read the CLIP BPE vocabulary {vocab_path} ({e}); reinstall it with: {_INSTALL_HINT}"
            ) from None
        merges = [tuple(line.split()) for line in lines[1 : 1 + _N_MERGES]]
        self.byte_symbols = byte_symbols()
        symbols = list(self.byte_symbols.values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [SOT, EOT]
        if (
            len(merges) != _N_MERGES
            or any(len(m) != 2 for m in merges)
            or len(set(vocab)) != VOCAB_SIZE
        ):
            raise MissingExtra(
                f"{vocab_path} is not the CLIP BPE vocabulary; reinstall it with: {_INSTALL_HINT}"
            )
        self.encoder: dict[str, int] = {token: i for i, token in enumerate(vocab)}
        self.ranks: dict[tuple[str, str], int] = {m: i for i, m in enumerate(merges)}
        self.sot_id = self.encoder[SOT]
        self.eot_id = self.encoder[EOT]
        self._pattern = regex.compile(_WORD_PATTERN, regex.IGNORECASE)
        self._spaces = regex.compile(r"\s+")
        self._word_ids = functools.lru_cache(maxsize=_BPE_CACHE_SIZE)(self._merge_word)

    def clean(self, text: str, *, unescape_html: bool = True) -> str:
        """The CLIP cleaning: fix mojibake, unescape HTML twice, collapse whitespace, lower case.

        Args:
            text: raw text.
            unescape_html: unescape HTML entities (the OpenAI / ImageBind tokenizer does; the
                Hugging Face `CLIPTokenizer` used by LanguageBind does not).
        """
        import ftfy

        text = ftfy.fix_text(text)
        if unescape_html:
            text = html.unescape(html.unescape(text))
        return self._spaces.sub(" ", text.strip()).strip().lower()

    def encode(self, text: str, *, unescape_html: bool = True) -> list[int]:
        """Token ids of `text` after `clean` (no start/end tokens)."""
        ids: list[int] = []
        for word in self._pattern.findall(self.clean(text, unescape_html=unescape_html)):
            ids.extend(self._word_ids(word))
        return ids

    def _merge_word(self, word: str) -> tuple[int, ...]:
        """BPE-merge one regex word (bytes mapped to symbols, `</w>` on the last symbol)."""
        if word in (SOT, EOT):
            return (self.encoder[word],)
        symbols = [self.byte_symbols[b] for b in word.encode("utf-8")]
        parts = [*symbols[:-1], symbols[-1] + "</w>"]
        while len(parts) > 1:
            # Apply the best-ranked merge present, at every (non-overlapping) position.
            ranked = [(self.ranks.get(p, _N_MERGES), p) for p in itertools.pairwise(parts)]
            rank, (first, second) = min(ranked)
            if rank == _N_MERGES:
                break
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == first and parts[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return tuple(self.encoder[p] for p in parts)


_lock = threading.Lock()
_tokenizers: dict[Path | None, ClipTokenizer] = {}


def clip_tokenizer(vocab_path: str | Path | None = None) -> ClipTokenizer:
    """The process-wide tokenizer for `vocab_path` (default: `find_vocab()`), built on first use.

    Raises:
        MissingExtra: the vocabulary is not installed or unreadable.
    """
    key = Path(vocab_path) if vocab_path is not None else None
    tokenizer = _tokenizers.get(key)
    if tokenizer is None:
        with _lock:
            tokenizer = _tokenizers.get(key)
            if tokenizer is None:
                tokenizer = _tokenizers[key] = ClipTokenizer(key or find_vocab())
    return tokenizer
