"""Upgrade a library written by openbind before segments (format v1) in place.

A v1 generation holds one `vectors.npz` index file and its own copy of `meta.sqlite`. Migration
takes the write lock, writes the vectors as one segment, copies the items into the shared
metadata table and commits a v2 generation; a crash part-way leaves the v1 library current.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

from openbind.atomic import write_text_atomic
from openbind.errors import VectorIndexError
from openbind.index.faiss_index import load_index
from openbind.index.manifest import FORMAT, Manifest
from openbind.index.metadata import COLUMNS, MetadataStore
from openbind.index.segments import SEGMENTS, write_segment


def migrate_v1(path: Path, generation: str, manifest: Manifest) -> None:
    """Rewrite the v1 library in `path` (current generation `generation`) as v2.

    Raises:
        VectorIndexError: another process is writing it, or it cannot be written.
    """
    from openbind.index.library import CURRENT, META, _name, _prune_generations, _write_generation

    fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VectorIndexError(f"library {path} is being written by another process") from None
        if (path / CURRENT).read_text().strip() != generation:
            return  # migrated (or changed) by another process meanwhile
        number = manifest.generation + 1
        index = load_index(path / generation / "vectors.npz")
        ids = index.ids()
        name = f"seg-{number:06d}-c"
        write_segment(path / SEGMENTS, name, ids, index.vectors(ids))
        (path / META).unlink(missing_ok=True)
        meta = MetadataStore(path / META, number)
        old = sqlite3.connect(path / generation / "meta.sqlite")
        try:
            rows = old.execute(f"SELECT {COLUMNS} FROM items").fetchall()
        finally:
            old.close()
        meta._db.executemany(
            f"INSERT INTO items ({COLUMNS}, added) VALUES (?,?,?,?,?,?,?,?)",
            [(*r, number) for r in rows],
        )
        meta.commit()
        meta.close()
        new = replace(
            manifest.touched(), format=FORMAT, generation=number, segments=(name,), stored=len(ids)
        )
        _write_generation(path, new)
        write_text_atomic(path / CURRENT, _name(number) + "\n")
        _prune_generations(path, keep=(_name(number),))
    except (OSError, sqlite3.Error) as e:
        raise VectorIndexError(f"cannot upgrade library {path} to {FORMAT}: {e}") from e
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    shutil.rmtree(path / generation, ignore_errors=True)
