"""Embeddings of unimodal collections, encoded once per frozen space and cached by content hash.

The key of a collection is sha256 over the space's `model_id`, the modality and every item's
content (a file's bytes, a string's UTF-8, an array's bytes), so renaming files or changing
factors never re-encodes, while editing a file does. Each entry is one safetensors file
`<space>.<modality>.<key[:16]>.safetensors` holding `vectors` (N, D) float32.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openbind.errors import BadInput
from openbind.space.protocol import Space
from openbind.types import Modality


def item_digest(item: Any) -> bytes:
    """sha256 of one item's content."""
    h = hashlib.sha256()
    if isinstance(item, (str, os.PathLike)) and Path(item).is_file():
        h.update(b"file:")
        with open(item, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    elif isinstance(item, str):
        h.update(b"str:" + item.encode("utf-8"))
    elif isinstance(item, (bytes, bytearray, memoryview)):
        h.update(b"bytes:" + bytes(item))
    elif isinstance(item, tuple) and len(item) == 2:  # (array, sample_rate)
        h.update(b"pair:" + item_digest(item[0]) + str(item[1]).encode())
    elif isinstance(item, torch.Tensor):
        h.update(
            b"tensor:" + str(tuple(item.shape)).encode() + item.detach().cpu().numpy().tobytes()
        )
    elif isinstance(item, np.ndarray):
        h.update(b"array:" + str(item.shape).encode() + str(item.dtype).encode() + item.tobytes())
    else:
        raise BadInput(f"cannot hash a {type(item).__name__} item for the embedding cache")
    return h.digest()


def collection_key(space_id: str, modality: Modality, items: Sequence[Any]) -> str:
    h = hashlib.sha256(f"{space_id}\0{modality.value}\0{len(items)}\0".encode())
    for item in items:
        h.update(item_digest(item))
    return h.hexdigest()


class EmbeddingCache:
    """A folder of cached collection embeddings.

    Attributes:
        encoded: how many items were actually encoded by spaces (not read from the cache).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.encoded = 0

    def path(self, space_id: str, modality: Modality, key: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", space_id)
        return self.folder / f"{safe}.{modality.value}.{key[:16]}.safetensors"

    def get(
        self,
        space: Space,
        modality: Modality | str,
        items: Sequence[Any],
        *,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """(N, D) unit embeddings of `items` by `space`, from the cache or encoded and stored."""
        from safetensors.torch import load_file, save_file

        m = Modality.parse(modality)
        key = collection_key(space.model_id, m, items)
        path = self.path(space.model_id, m, key)
        if path.is_file():
            return load_file(str(path))["vectors"]
        vectors = space.encode(m, list(items), batch_size=batch_size).vectors.float().contiguous()
        self.encoded += len(items)
        tmp = path.with_suffix(".tmp")
        save_file({"vectors": vectors}, str(tmp), metadata={"space": space.model_id, "key": key})
        tmp.replace(path)
        return vectors
