"""all-MiniLM-L6-v2 through plain transformers equals sentence-transformers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from openbind.encoders.minilm import MiniLMTower, TokenizeText, pad_token_ids
from openbind.errors import BadInput

SENTENCES = [
    "a cat",
    "A photograph of an astronaut on the Moon, holding the American flag.",
    "",
    "naïve café résumé — unicode ✓",
    "word " * 400,  # longer than 256 tokens: truncated like sentence-transformers
]


@pytest.fixture(scope="module")
def tower():
    return MiniLMTower.from_package().eval()


@pytest.fixture(scope="module")
def tokenize():
    return TokenizeText()


def test_equals_sentence_transformers(tower, tokenize):
    st = pytest.importorskip("sentence_transformers")
    from openbind.encoders.minilm import minilm_path

    reference = st.SentenceTransformer(str(minilm_path()), device="cpu")
    expected = torch.from_numpy(reference.encode(SENTENCES, batch_size=8))
    with torch.inference_mode():
        ours = F.normalize(tower(pad_token_ids([tokenize(s) for s in SENTENCES])), dim=-1)
    assert ours.shape == (5, 384)
    assert (ours - expected).abs().max().item() < 1e-6


def test_tokens_are_bert_ids_truncated_to_256(tokenize):
    assert tokenize("a cat").tolist() == [[101, 1037, 4937, 102]]
    long = tokenize("word " * 400)
    assert long.shape == (1, 256) and long[0, -1].item() == 102


def test_ready_token_ids_pass_through(tokenize):
    ids = torch.tensor([101, 1037, 4937, 102])
    assert tokenize(ids).tolist() == [[101, 1037, 4937, 102]]


@pytest.mark.parametrize("item", [3, b"bytes", None, torch.zeros(4)])
def test_non_text_items_are_bad_input(tokenize, item):
    with pytest.raises(BadInput, match="text items must be strings"):
        tokenize(item)


def test_padding_does_not_change_a_sentence(tower, tokenize):
    short, long = tokenize("a cat"), tokenize("a small grey cat sleeping on a sofa")
    with torch.inference_mode():
        alone = tower(short)
        padded = tower(pad_token_ids([short, long]))[0:1]
    assert torch.allclose(alone, padded, atol=1e-5)
    assert pad_token_ids([short, long]).shape == (2, long.shape[1])


def test_tokenizing_from_several_threads_matches_one_thread(tokenize):
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"sentence number {i} " * (1 + i % 40) for i in range(400)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(tokenize, texts))
    assert all(torch.equal(p, tokenize(t)) for p, t in zip(parallel, texts, strict=True))
