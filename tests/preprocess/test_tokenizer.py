"""CLIP BPE tokenizer: vocabulary lookup, byte table, cleaning, thread-safe cache."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import pytest

from openbind.errors import MissingExtra
from openbind.preprocess import tokenizer as tk


def test_vocab_comes_from_an_installed_package_not_the_repo():
    path = tk.find_vocab()
    assert path.name == "bpe_simple_vocab_16e6.txt.gz"
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert path.stat().st_size == 1_356_917


def test_missing_vocab_says_what_to_install(monkeypatch):
    monkeypatch.setattr(tk, "_VOCAB_PACKAGES", ("no_such_package_openbind",))
    with pytest.raises(MissingExtra, match=r"pip install --no-deps open_clip_torch==3\.3\.0"):
        tk.find_vocab()


def test_unreadable_or_foreign_vocab_is_missing_extra(tmp_path: Path):
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(MissingExtra, match="cannot read"):
        tk.ClipTokenizer(broken)
    short = tmp_path / "short.txt.gz"
    with gzip.open(short, "wt") as f:
        f.write("#version\na b\n")
    with pytest.raises(MissingExtra, match="not the CLIP BPE vocabulary"):
        tk.ClipTokenizer(short)


def test_byte_table_is_a_bijection_onto_printable_symbols():
    table = tk.byte_symbols()
    assert len(set(table.values())) == 256
    assert all(not s.isspace() and s.isprintable() for s in table.values())
    assert table[ord("a")] == "a" and table[ord(" ")] == "Ġ" and table[0] == "Ā"
    # vocabulary ids 0..255 follow the table order: printable bytes first
    assert next(iter(table.values())) == "!"


def test_ids_of_known_words():
    tok = tk.clip_tokenizer()
    assert (tok.sot_id, tok.eot_id) == (49406, 49407)
    assert len(tok.encoder) == tk.VOCAB_SIZE
    assert tok.encode("A dog.") == [320, 1929, 269]
    assert tok.encode("") == []
    assert tok.encode("<|endoftext|>") == [49407]  # special tokens in text, as the reference


def test_cleaning():
    tok = tk.clip_tokenizer()
    assert tok.clean("  A\t\nDog &amp;amp; Cat  ") == "a dog & cat"
    # ftfy alone unescapes entities only in text without "<" (it takes that for HTML)
    assert tok.clean("<b>&amp;</b>", unescape_html=False) == "<b>&amp;</b>"
    assert tok.clean("<b>&amp;amp;</b>") == "<b>&</b>"
    assert tok.clean("a\u3000b\xa0 c") == "a b c"  # unicode whitespace collapses too


def test_one_tokenizer_per_process_even_under_threads():
    tk._tokenizers.clear()
    got = []
    threads = [threading.Thread(target=lambda: got.append(tk.clip_tokenizer())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(x) for x in got}) == 1
    assert tk.clip_tokenizer() is got[0]
