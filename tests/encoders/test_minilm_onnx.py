"""The torch-free MiniLM text path: same token ids, same embeddings, same rankings, no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from openbind.encoders import minilm_onnx
from openbind.encoders.minilm import MiniLMTower, TokenizeText, pad_token_ids

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TEXTS = [
    "a cat",
    "A photograph of an astronaut on the Moon, holding the American flag.",
    "",
    "   ",
    "naïve café résumé façade — unicode ✓",
    "日本語の文章です。中文句子。한국어 문장",
    "emoji 🙂👍🏽 and ﬁ ligatures, e\u0301 combining, \u200b zero width",
    "tabs\tand\nnew lines\r\n",
    "UPPER lower MiXeD 12345 3.14159 $% @#!",
    "word " * 400,  # > 256 tokens: truncated
    "x" * 30_000,  # > 20,000 characters: cut first
]
QUERIES = [
    "a cat",
    "a rocket",
    "a cup of coffee",
    "a motorcycle",
    "a bouncing red ball",
    "a person speaking",
    "white noise, static",
    "a dog barking at night",
    "ein Hund, der bellt",
    "une tasse de café",
]


@pytest.fixture(scope="module")
def tower():
    return MiniLMTower.from_package().eval()


@pytest.fixture(scope="module")
def home(tmp_path_factory, tower):
    """An OPENBIND_HOME with the starter's text tower exported (once for the module)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENBIND_HOME", str(home))
        path = minilm_onnx.ensure_text_onnx("starter", tower)
    assert path is not None and path.is_file() and str(path).startswith(str(home))
    return home


@pytest.fixture
def query(home, monkeypatch):
    monkeypatch.setenv("OPENBIND_HOME", str(home))
    q = minilm_onnx.TextQuery.for_model("starter")
    assert q is not None
    return q


def test_token_ids_equal_the_transformers_tokenizer():
    tokenize = TokenizeText()
    expected = pad_token_ids([tokenize(t) for t in TEXTS]).numpy()
    got = minilm_onnx.token_ids(TEXTS)
    assert got.dtype == np.int64 and got.shape == expected.shape == (len(TEXTS), 256)
    assert np.array_equal(got, expected)
    for t in TEXTS:  # one at a time too (no padding)
        assert np.array_equal(minilm_onnx.token_ids([t]), tokenize(t).numpy())


def test_onnx_embeddings_equal_torch(query, tower):
    ids = pad_token_ids([TokenizeText()(t) for t in TEXTS])
    with torch.no_grad():
        expected = torch.nn.functional.normalize(tower(ids), dim=-1).numpy()
    got = query.encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    assert np.abs(got - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_onnx_queries_rank_a_library_exactly_as_torch(query, tower, tmp_path):
    """The demo's text queries (and more) over the starter's 1,000 class-name embeddings: the
    top 10 of each query is the same list with either path."""
    import openbind
    from openbind.index import Library, Record
    from openbind.zoo.starter import class_names, image_tower, starter_config

    bank = image_tower(starter_config()).bank.numpy()  # (1000, 384) unit rows
    lib = Library.create(tmp_path / "lib", model_id="starter_base.v1", dim=384)
    lib.add(bank, [Record(f"{i}-{name}", "text") for i, name in enumerate(class_names())])
    lib.commit()
    space = openbind.load("starter", modalities=["text"])
    for text in QUERIES:
        torch_hits = [h.id for h in lib.search(space.encode("text", [text]), k=10)]
        onnx_hits = [h.id for h in lib.search(query.encode([text]), k=10)]
        assert onnx_hits == torch_hits, text
    lib.close()


def test_not_used_for_other_models_or_when_switched_off(home, monkeypatch, tower):
    monkeypatch.setenv("OPENBIND_HOME", str(home))
    assert minilm_onnx.TextQuery.for_model("imagebind_huge") is None
    assert minilm_onnx.TextQuery.for_model("no-such-model") is None
    assert minilm_onnx.ensure_text_onnx("imagebind_huge", tower) is None
    monkeypatch.setenv(minilm_onnx.ENV, "0")
    assert minilm_onnx.TextQuery.for_model("starter") is None


def test_missing_cache_or_onnxruntime_falls_back(tmp_path, monkeypatch, home):
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "empty"))
    assert minilm_onnx.TextQuery.for_model("starter") is None
    monkeypatch.setenv("OPENBIND_HOME", str(home))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    assert minilm_onnx.TextQuery.for_model("starter") is None


def test_a_damaged_cache_file_is_dropped(tmp_path, monkeypatch, home):
    monkeypatch.setenv("OPENBIND_HOME", str(home))
    path = minilm_onnx.onnx_path("starter")
    copy = tmp_path / "copy"
    monkeypatch.setenv("OPENBIND_HOME", str(copy))
    bad = minilm_onnx.onnx_path("starter")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(path.read_bytes()[:1000])
    assert minilm_onnx.TextQuery.for_model("starter") is None
    assert not bad.exists()


def test_cli_text_search_imports_no_torch(home, tmp_path):
    """A cold `openbind search LIB TEXT` with the cache in place never imports torch (nor
    transformers), and finds what the torch path finds."""
    from openbind.index import Library, Record

    env = {**os.environ, "OPENBIND_HOME": str(home)}
    env["PYTHONPATH"] = str(Path(__file__).parents[2] / "src")
    lib_path = tmp_path / "notes"
    texts = ["a cat on a mat", "a dog barking", "rain on a roof", "a rocket launch"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENBIND_HOME", str(home))
        q = minilm_onnx.TextQuery.for_model("starter")
        vectors = q.encode(texts)
    lib = Library.create(lib_path, model_id="starter_base.v1", dim=384)
    lib.add(vectors, [Record(f"{i}.txt", "text") for i in range(len(texts))])
    lib.commit()
    lib.close()
    script = (
        "import json, sys\n"
        "from openbind.cli.main import main\n"
        f"code = main(['search', {str(lib_path)!r}, 'a kitten', '-k', '2', '--json'])\n"
        "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules,"
        " 'transformers': 'transformers' in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    status = json.loads(lines[-1])
    assert status == {"code": 0, "torch": False, "transformers": False}
    result = json.loads("\n".join(lines[:-1]))
    assert result["hits"][0]["path"] == "0.txt"
