"""Item metadata of a library in SQLite: id, path, modality, content hash, size, mtime, extra JSON.

One table, `items`, keyed by the vector id. A (path, modality) pair appears at most once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openbind.errors import BadInput, VectorIndexError
from openbind.types import Modality

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    modality TEXT NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (path, modality)
);
CREATE INDEX IF NOT EXISTS items_modality ON items (modality);
"""
COLUMNS = "id, path, modality, content_hash, size, mtime, extra"


@dataclass(frozen=True)
class Record:
    """Metadata of one embedded item.

    Attributes:
        path: where the item came from (a file path, or any source string for inline text).
        modality: how it was embedded.
        content_hash: hash of the bytes (blake2b hex), used to skip unchanged files.
        size: size in bytes.
        mtime: modification time (seconds since the epoch).
        extra: any JSON-serialisable details (duration, width, caption, ...).
        id: vector id in the library (-1 until added).
    """

    path: str
    modality: Modality
    content_hash: str = ""
    size: int = 0
    mtime: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    id: int = -1


class MetadataStore:
    """The `items` table of one SQLite file.

    Args:
        path: the database file (created if missing unless `readonly`).
        readonly: open without write access.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:
                uri = f"file:{self.path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                self._db = sqlite3.connect(self.path, check_same_thread=False)
                self._db.executescript(SCHEMA)
                self._db.commit()
            self._db.execute("SELECT count(*) FROM items").fetchone()
        except sqlite3.Error as e:
            raise VectorIndexError(f"cannot open metadata {self.path}: {e}") from e

    def insert(self, records: Sequence[Record]) -> None:
        """Insert records that already carry their ids.

        Raises:
            BadInput: an id or a (path, modality) pair is already stored.
        """
        rows = [
            (
                r.id,
                r.path,
                Modality.parse(r.modality).value,
                r.content_hash,
                int(r.size),
                float(r.mtime),
                json.dumps(r.extra, sort_keys=True),
            )
            for r in records
        ]
        try:
            self._db.executemany(f"INSERT INTO items ({COLUMNS}) VALUES (?,?,?,?,?,?,?)", rows)
        except sqlite3.IntegrityError as e:
            self._db.rollback()
            raise BadInput(f"items already in the library: {e}") from e

    def delete(self, ids: Iterable[int]) -> None:
        self._db.executemany("DELETE FROM items WHERE id = ?", [(int(i),) for i in ids])

    def get(self, ids: Sequence[int]) -> dict[int, Record]:
        """The records of `ids` that exist, by id."""
        out: dict[int, Record] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {COLUMNS} FROM items WHERE id IN ({marks})", chunk
            ):
                out[row[0]] = _record(row)
        return out

    def all(self) -> list[Record]:
        """Every record, ordered by id."""
        return [
            _record(row) for row in self._db.execute(f"SELECT {COLUMNS} FROM items ORDER BY id")
        ]

    def ids_of(self, modality: Modality) -> np.ndarray:
        rows = self._db.execute("SELECT id FROM items WHERE modality = ?", (modality.value,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def ids_where(self, condition: str, args: Sequence[Any]) -> np.ndarray:
        """Ids of the items meeting an SQL condition (from `Filter.sql`), ascending."""
        try:
            rows = self._db.execute(f"SELECT id FROM items WHERE {condition} ORDER BY id", args)
            return np.fromiter((r[0] for r in rows), dtype=np.int64)
        except sqlite3.Error as e:
            raise BadInput(f"cannot apply the filter: {e}", source="filter") from e

    def counts(self) -> dict[str, int]:
        """Items per modality."""
        rows = self._db.execute("SELECT modality, count(*) FROM items GROUP BY modality ORDER BY 1")
        return dict(rows.fetchall())

    def commit(self) -> None:
        self._db.commit()

    def backup_to(self, path: str | Path) -> None:
        """Copy the database to `path` (consistent even while open)."""
        target = sqlite3.connect(path)
        try:
            self._db.backup(target)
        finally:
            target.close()

    def close(self) -> None:
        self._db.close()


def _record(row: tuple) -> Record:
    id_, path, modality, content_hash, size, mtime, extra = row
    return Record(path, Modality(modality), content_hash, size, mtime, json.loads(extra), id_)
