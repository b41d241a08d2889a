"""Embeddings cached by content hash, so no benchmark item is ever encoded twice by one space.

An item's key is the sha256 hash of its bytes (plus the crop box, for crops; blake2b of the
UTF-8 text for strings), so renamed or copied files hit the cache and edited files miss it. Entries live
under `cache_dir/<space key>/<modality>/*.npz`, one shard per encoding chunk (an interrupted
run keeps what it finished). The space key is the model id plus a fingerprint of the vector the
space gives a fixed probe sentence, so other weights under the same name never share entries.
Items a space refused are cached with their reason too.

Example:
    >>> enc = CachedEncoder(space, "~/.cache/openbind/eval")
    >>> out = enc.encode("audio", items)      # encodes
    >>> out = enc.encode("audio", items)      # reads the cache: enc.encoded["audio"] unchanged
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openbind.eval.data import Input
from openbind.space.protocol import Space
from openbind.types import Modality

PROBE = "openbind evaluation cache probe: a photo of a dog."
CHUNK = 512
"""Items per `encode_report` call (and per cache shard)."""
BLOCK = 1 << 22
"""Files up to this size are hashed in one read."""


@dataclass(frozen=True)
class Encoded:
    """Vectors of the items that embedded, in input order, and the errors of the others.

    Attributes:
        vectors: (K, D) float32 unit rows.
        kept: input positions of the rows.
        errors: (position, item name, reason) of each refused item.
        keys: content key of every input.
    """

    vectors: np.ndarray
    kept: list[int]
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


class FileHasher:
    """sha256 of file contents (128 bits kept; sha256 has CPU instructions, 2.4x faster than
    blake2b here), remembered by (path, size, mtime) in an optional JSON file."""

    def __init__(self, memo: Path | None = None) -> None:
        self.memo = memo
        self.table: dict[str, list] = {}
        self.changed = False
        if memo is not None and memo.is_file():
            try:
                self.table = json.loads(memo.read_text())
            except ValueError:
                self.table = {}

    def __call__(self, path: Path) -> str:
        st = path.stat()
        key = os.path.abspath(path)
        hit = self.table.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return str(hit[2])
        if st.st_size <= BLOCK:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
        else:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(BLOCK), b""):
                    h.update(block)
            digest = h.hexdigest()[:32]
        self.table[key] = [st.st_size, st.st_mtime_ns, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if self.memo is not None and self.changed:
            _atomic_write_text(self.memo, json.dumps(self.table))
            self.changed = False


def item_key(item: Input, hasher: FileHasher) -> str:
    """The content key of a benchmark input."""
    if isinstance(item, str):
        return "t" + hashlib.blake2b(item.encode("utf-8"), digest_size=16).hexdigest()
    key = "f" + hasher(item.path)
    return key if item.box is None else f"{key}@{','.join(map(str, item.box))}"


def space_key(space: Space) -> str:
    """`<model id>-<fingerprint>`: the fingerprint hashes the space's vector of a probe text."""
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in space.model_id)
    if Modality.TEXT not in space.modalities:
        return f"{name}-notext"
    probe = np.asarray(space.encode("text", [PROBE]).numpy(), dtype=np.float32)
    digest = hashlib.blake2b(np.round(probe, 4).tobytes(), digest_size=6).hexdigest()
    return f"{name}-{digest}"


class CachedEncoder:
    """Encode benchmark inputs through a space, each distinct content once.

    Args:
        space: any `openbind.Space`.
        cache_dir: where entries persist (None: in memory, for this object's life).
        batch_size: items per forward pass (default: the space's).
        progress: show a progress bar over the items to encode.

    Attributes:
        encoded: per modality, how many items the space encoded.
        reused: per modality, how many items came from the cache.
    """

    def __init__(
        self,
        space: Space,
        cache_dir: str | Path | None = None,
        *,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        self.space = space
        self.batch_size = batch_size
        self.progress = progress
        self.key = space_key(space)
        self.root = Path(cache_dir).expanduser() / self.key if cache_dir is not None else None
        self.hasher = FileHasher(
            Path(cache_dir).expanduser() / "file_hashes.json" if cache_dir is not None else None
        )
        self.encoded: Counter[str] = Counter()
        self.reused: Counter[str] = Counter()
        self._tables: dict[Modality, dict[str, np.ndarray | str]] = {}

    def keys(self, items: Sequence[Input]) -> list[str]:
        """The content keys of `items` (file hashes are remembered in the cache folder)."""
        out = [item_key(it, self.hasher) for it in items]
        self.hasher.save()
        return out

    def encode(self, modality: Modality | str, items: Sequence[Input]) -> Encoded:
        """Vectors of `items` (files or strings) of `modality`; bad items are reported, not raised."""
        m = Modality.parse(modality)
        keys = self.keys(items)
        table = self._table(m)
        todo: dict[str, Input] = {}
        for k, it in zip(keys, items, strict=True):
            if k not in table and k not in todo:
                todo[k] = it
        self.reused[m.value] += sum(1 for k in keys if k in table)
        if todo:
            self._encode_missing(m, todo, table)
        kept = [i for i, k in enumerate(keys) if not isinstance(table[k], str)]
        errors = [
            (i, str(items[i]), str(table[k]))
            for i, k in enumerate(keys)
            if isinstance(table[k], str)
        ]
        vectors = (
            np.stack([table[keys[i]] for i in kept]).astype(np.float32)
            if kept
            else np.zeros((0, self.space.dim), np.float32)
        )
        return Encoded(vectors, kept, errors, keys)

    def _encode_missing(
        self, m: Modality, todo: dict[str, Input], table: dict[str, np.ndarray | str]
    ) -> None:
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc=f"encoding {m.value}", unit="item")
        pending = list(todo.items())
        for start in range(0, len(pending), CHUNK):
            chunk = pending[start : start + CHUNK]
            values = [_value(it) for _, it in chunk]
            report = self.space.encode_report(m, values, batch_size=self.batch_size, progress=False)
            vectors = np.asarray(report.embeddings.numpy(), dtype=np.float32)
            fresh: dict[str, np.ndarray | str] = {}
            for row, i in enumerate(report.kept):
                fresh[chunk[i][0]] = vectors[row]
            for e in report.errors:
                fresh[chunk[e.index][0]] = e.reason
            table.update(fresh)
            self.encoded[m.value] += len(chunk)
            self._save(m, fresh)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()

    def _table(self, m: Modality) -> dict[str, np.ndarray | str]:
        if m in self._tables:
            return self._tables[m]
        table: dict[str, np.ndarray | str] = {}
        folder = self.root / m.value if self.root is not None else None
        if folder is not None and folder.is_dir():
            for shard in sorted(folder.glob("*.npz")):
                try:
                    with np.load(shard, allow_pickle=False) as z:
                        if z["vectors"].shape[1:] != (self.space.dim,):
                            continue
                        table.update(zip(z["keys"].tolist(), z["vectors"], strict=True))
                        table.update(
                            zip(z["error_keys"].tolist(), z["reasons"].tolist(), strict=True)
                        )
                except (OSError, ValueError, KeyError):
                    continue  # a damaged shard is only a cache miss
        self._tables[m] = table
        return table

    def _save(self, m: Modality, fresh: dict[str, np.ndarray | str]) -> None:
        if self.root is None or not fresh:
            return
        folder = self.root / m.value
        folder.mkdir(parents=True, exist_ok=True)
        good = {k: v for k, v in fresh.items() if not isinstance(v, str)}
        bad = {k: v for k, v in fresh.items() if isinstance(v, str)}
        target = folder / f"{uuid.uuid4().hex}.npz"
        tmp = target.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            keys=np.array(list(good), dtype=str),
            vectors=(
                np.stack(list(good.values())).astype(np.float32)
                if good
                else np.zeros((0, self.space.dim), np.float32)
            ),
            error_keys=np.array(list(bad), dtype=str),
            reasons=np.array(list(bad.values()), dtype=str),
        )
        os.replace(tmp, target)


def _value(item: Input) -> Any:
    return item if isinstance(item, str) else item.value()


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


__all__ = ["CachedEncoder", "Encoded", "FileHasher", "item_key", "space_key"]
