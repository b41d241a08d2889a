"""TextTransform: token ids equal the reference tokenizers' (ImageBind and LanguageBind conventions)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from openbind.errors import BadInput, ConfigError, DecodeError
from openbind.preprocess.text import TextConfig, TextTransform, tokenize

GOLDEN = json.loads((Path(__file__).parents[1] / "golden/preproc/text_tokens.json").read_text())
LANGUAGEBIND = TextConfig(pad_id=49407, unescape_html=False)


@pytest.mark.parametrize("k", range(len(GOLDEN["imagebind"]["texts"])))
def test_imagebind_golden_ids(k: int):
    text, ids = GOLDEN["imagebind"]["texts"][k], GOLDEN["imagebind"]["ids"][k]
    out = TextTransform()(text)
    assert out.dtype == torch.int64 and out.shape == (1, 77)
    assert out[0].tolist() == ids


def test_golden_covers_truncation_and_html():
    texts = GOLDEN["imagebind"]["texts"]
    assert any("&amp;" in t and "😀" in t for t in texts)
    assert sum(ids[-1] == 49407 for ids in GOLDEN["imagebind"]["ids"]) >= 2  # truncated ones


@pytest.mark.parametrize("k", range(len(GOLDEN["languagebind"]["texts"])))
def test_languagebind_golden_ids(k: int):
    text, ids = GOLDEN["languagebind"]["texts"][k], GOLDEN["languagebind"]["ids"][k]
    assert TextTransform(LANGUAGEBIND)(text)[0].tolist() == ids


def test_tokenize_batch_equals_rows():
    texts = GOLDEN["imagebind"]["texts"]
    batch = tokenize(texts)
    assert batch.shape == (len(texts), 77)
    assert batch.tolist() == GOLDEN["imagebind"]["ids"]
    assert tokenize([]).shape == (0, 77)


def test_short_context_truncates_and_keeps_end_token():
    out = TextTransform(TextConfig(context_length=4))("a dog barking loudly")
    assert out.tolist() == [[49406, 320, 1929, 49407]]


def test_bad_context_length():
    with pytest.raises(ConfigError):
        TextConfig(context_length=1)


def test_text_files_and_bytes(tmp_path: Path):
    f = tmp_path / "caption.txt"
    f.write_bytes("\ufeffA dog.\n".encode())
    want = TextTransform()("A dog.")
    assert torch.equal(TextTransform()(f), want)
    assert torch.equal(TextTransform()(b"A dog."), want)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(DecodeError, match=r"latin1\.txt.*not UTF-8"):
        TextTransform()(bad)


def test_thread_safe_results():
    texts = GOLDEN["imagebind"]["texts"] * 8
    transform = TextTransform()
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: transform(t)[0].tolist(), texts))
    assert got == GOLDEN["imagebind"]["ids"] * 8


def test_token_tensors_pass_through():
    ids = TextTransform()("A dog.")
    assert torch.equal(TextTransform()(ids[0]), ids)
    assert torch.equal(TextTransform()(ids.int()), ids)
    with pytest.raises(BadInput, match=r"shape \(77,\)"):
        TextTransform()(torch.zeros(2, 77, dtype=torch.int64))
    with pytest.raises(BadInput, match="integer"):
        TextTransform()(ids.float())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=300))
def test_any_string_gives_well_formed_ids(text: str):
    ids = TextTransform()(text)[0].tolist()
    assert len(ids) == 77 and ids[0] == 49406
    end = max(k for k, i in enumerate(ids) if i != 0)  # the appended end token, then padding
    assert ids[end] == 49407
    body = ids[1:end]
    assert all(0 <= i < 49408 for i in body)
    if "<|" not in text.lower():  # the special tokens only come from their literal spelling
        assert all(i < 49406 for i in body)


def test_unpaired_surrogates_do_not_break_tokenising():
    assert TextTransform()("a \ud800 b")[0, :5].tolist() == [49406, 320, 39802, 321, 49407]
