"""Item metadata of a library in SQLite: id, path, modality, content hash, size, mtime, extra JSON.

One table, `items`, keyed by the vector id, shared by every generation of a library: each row
records the generation that added it and the one that removed it, and a reader at generation g
sees the rows with `added <= g` and `removed` unset or later than g. A commit therefore writes
only the rows it changes (SQLite in WAL mode: readers never wait for the writer), rows a crashed
writer left behind (`added` or `removed` after the current generation) are undone by the next
writer (`rollback_after`), and rows no kept generation can see are deleted (`prune`).

A (path, modality) pair appears at most once among the live rows.
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
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    modality TEXT NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    added INTEGER NOT NULL DEFAULT 0,
    removed INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS items_live ON items (path, modality) WHERE removed IS NULL;
CREATE INDEX IF NOT EXISTS items_modality ON items (modality);
CREATE INDEX IF NOT EXISTS items_added ON items (added);
CREATE INDEX IF NOT EXISTS items_removed ON items (removed);
"""
COLUMNS = "id, path, modality, content_hash, size, mtime, extra"
VISIBLE = "added <= ? AND (removed IS NULL OR removed > ?)"


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
    """The `items` table of a library, seen at one generation.

    Args:
        path: the database file (created if missing unless `readonly`).
        generation: the generation whose rows are visible (a writer's is its pending one).
        readonly: open without write access.
    """

    def __init__(self, path: str | Path, generation: int, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.generation = generation
        try:
            if readonly:
                uri = f"file:{self.path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                self._db = sqlite3.connect(self.path, check_same_thread=False)
                self._db.executescript(SCHEMA)
                self._db.execute("PRAGMA synchronous = FULL")
                self._db.commit()
            self._db.execute("SELECT count(*) FROM items").fetchone()
        except sqlite3.Error as e:
            raise VectorIndexError(f"cannot open metadata {self.path}: {e}") from e

    def _visible(self) -> tuple[str, list[int]]:
        return VISIBLE, [self.generation, self.generation]

    def insert(self, records: Sequence[Record]) -> None:
        """Insert records that already carry their ids, as added by this generation.

        Raises:
            BadInput: an id or a live (path, modality) pair is already stored.
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
                self.generation,
            )
            for r in records
        ]
        try:
            self._db.executemany(
                f"INSERT INTO items ({COLUMNS}, added) VALUES (?,?,?,?,?,?,?,?)", rows
            )
        except sqlite3.IntegrityError as e:
            self._db.rollback()
            raise BadInput(f"items already in the library: {e}") from e

    def delete(self, ids: Iterable[int]) -> None:
        """Mark items removed by this generation (rows it added itself are dropped)."""
        rows = [(int(i), self.generation) for i in ids]
        self._db.executemany("DELETE FROM items WHERE id = ? AND added = ?", rows)
        self._db.executemany(
            "UPDATE items SET removed = ? WHERE id = ? AND removed IS NULL",
            [(g, i) for i, g in rows],
        )

    def get(self, ids: Sequence[int]) -> dict[int, Record]:
        """The visible records of `ids` that exist, by id."""
        out: dict[int, Record] = {}
        ids = [int(i) for i in ids]
        cond, args = self._visible()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {COLUMNS} FROM items WHERE id IN ({marks}) AND {cond}", chunk + args
            ):
                out[row[0]] = _record(row)
        return out

    def all(self) -> list[Record]:
        """Every visible record, ordered by id."""
        cond, args = self._visible()
        rows = self._db.execute(f"SELECT {COLUMNS} FROM items WHERE {cond} ORDER BY id", args)
        return [_record(row) for row in rows]

    def live_ids(self) -> np.ndarray:
        """Ids of the visible items, ascending."""
        return self.ids_where("1", [])

    def ids_where(self, condition: str, args: Sequence[Any]) -> np.ndarray:
        """Ids of the visible items meeting an SQL condition (from `Filter.sql`), ascending."""
        cond, vis = self._visible()
        try:
            rows = self._db.execute(
                f"SELECT id FROM items WHERE ({condition}) AND {cond} ORDER BY id", [*args, *vis]
            )
            return np.fromiter((r[0] for r in rows), dtype=np.int64)
        except sqlite3.Error as e:
            raise BadInput(f"cannot apply the filter: {e}", source="filter") from e

    def removed_between(self, after: int, upto: int) -> np.ndarray:
        """Ids removed by generations `after` < g <= `upto` (what a reader moving on drops)."""
        rows = self._db.execute(
            "SELECT id FROM items WHERE removed > ? AND removed <= ?", (after, upto)
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def counts(self) -> dict[str, int]:
        """Visible items per modality."""
        cond, args = self._visible()
        rows = self._db.execute(
            f"SELECT modality, count(*) FROM items WHERE {cond} GROUP BY modality ORDER BY 1", args
        )
        return dict(rows.fetchall())

    def rollback_after(self, generation: int) -> None:
        """Undo rows of generations after `generation` (left by a writer that crashed)."""
        self._db.execute("DELETE FROM items WHERE added > ?", (generation,))
        self._db.execute("UPDATE items SET removed = NULL WHERE removed > ?", (generation,))
        self._db.commit()

    def prune(self, oldest_kept: int) -> None:
        """Delete rows removed at or before `oldest_kept`: no kept generation sees them."""
        self._db.execute(
            "DELETE FROM items WHERE removed IS NOT NULL AND removed <= ?", (oldest_kept,)
        )

    def commit(self) -> None:
        self._db.commit()

    def rollback(self) -> None:
        self._db.rollback()

    def close(self) -> None:
        self._db.close()


def _record(row: tuple) -> Record:
    id_, path, modality, content_hash, size, mtime, extra = row
    return Record(path, Modality(modality), content_hash, size, mtime, json.loads(extra), id_)
