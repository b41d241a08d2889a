"""The manifest of a library: which space made its vectors, and how they are indexed.

Stored as `manifest.json` in every generation of a library. Opening a library for a space checks
the model id and dimension, so vectors of different spaces are never mixed or compared.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from openbind.errors import IndexMismatch, VectorIndexError

FORMAT = "openbind-library/2"
OLD_FORMATS = ("openbind-library/1",)
"""Formats `Library.open` migrates (v1: one index file and one SQLite copy per generation)."""


@dataclass(frozen=True)
class Manifest:
    """What a library holds.

    Attributes:
        model_id: the space the vectors come from (`family_variant.tag`).
        dim: vector dimension.
        kind: index kind ("flat" or "hnsw").
        params: index parameters (HNSW: m, ef_construction, ef_search, max_tombstones).
        normalized: vectors are L2-normalised, so scores are cosine similarities.
        metric: how scores are computed ("cosine" for normalised inner products).
        roots: folders or files the library was built from (for `update`).
        tags_file: a sidecar CSV/JSON of user tags read at each build and update ("" if none).
        segments: the vector segments (`openbind.index.segments`) of this generation, oldest
            first.
        stored: vectors in those segments, live or dead (compaction drops the dead ones).
        count: vectors stored.
        next_id: the id the next added item gets (ids are never reused).
        generation: number of the committed generation this manifest belongs to.
        openbind_version: version that wrote it.
        created: creation time (UTC, ISO 8601).
        updated: last commit time (UTC, ISO 8601).
        format: on-disk format tag.
    """

    model_id: str
    dim: int
    kind: str = "flat"
    params: dict[str, Any] = field(default_factory=dict)
    normalized: bool = True
    metric: str = "cosine"
    roots: tuple[str, ...] = ()
    tags_file: str = ""
    segments: tuple[str, ...] = ()
    stored: int = 0
    count: int = 0
    next_id: int = 0
    generation: int = 0
    openbind_version: str = ""
    created: str = ""
    updated: str = ""
    format: str = FORMAT

    def check(
        self, *, model_id: str | None = None, dim: int | None = None, where: str = ""
    ) -> None:
        """Refuse a library built with another space.

        Raises:
            IndexMismatch: `model_id` or `dim` differ from the manifest's.
        """
        place = f"library {where}" if where else "library"
        if model_id is not None and model_id != self.model_id:
            raise IndexMismatch(
                f"{place} was built with {self.model_id} ({self.dim}-d) but {model_id} was asked "
                f"for; search it with {self.model_id} or rebuild it with {model_id}"
            )
        if dim is not None and dim != self.dim:
            raise IndexMismatch(
                f"{place} holds {self.dim}-d vectors of {self.model_id} but {dim}-d vectors were given"
            )

    def to_json(self) -> str:
        data = asdict(self)
        data["roots"] = list(self.roots)
        data["segments"] = list(self.segments)
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "") -> Manifest:
        """Parse a manifest.

        Raises:
            VectorIndexError: not JSON, unknown format, or missing / unknown fields.
        """
        try:
            data = json.loads(text)
            if data.get("format") not in (FORMAT, *OLD_FORMATS):
                raise VectorIndexError(f"{where}: unknown library format {data.get('format')!r}")
            data["roots"] = tuple(data.get("roots", ()))
            data["segments"] = tuple(data.get("segments", ()))
            return cls(**data)
        except (json.JSONDecodeError, TypeError, AttributeError) as e:
            raise VectorIndexError(f"{where}: corrupt manifest: {e}") from e

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise VectorIndexError(f"cannot read manifest {path}: {e}") from e
        return cls.from_json(text, str(path))

    def touched(self, **changes: Any) -> Manifest:
        """A copy with `changes` and `updated` set to now."""
        return replace(self, updated=utc_now(), **changes)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
