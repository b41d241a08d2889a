"""What an incremental run has to do: compare the files found now with what was stored before.

A stored item is unchanged when its file still exists with the same size and mtime, or with the
same content hash (a touched but identical file). New and changed files are embedded, unless an
item with the same content hash and modality is already stored (a moved, renamed or duplicate
file): then its vector is reused. Stored items whose file is gone or changed are removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from openbind.pipeline.scan import FileEntry, hash_files
from openbind.types import Modality

K = TypeVar("K")


@dataclass(frozen=True)
class Stored(Generic[K]):
    """An item stored by a previous run; `key` finds it again (a row number, a library id)."""

    key: K
    path: str
    modality: Modality
    content_hash: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Todo:
    """A file to embed (or whose vector to reuse)."""

    path: Path
    modality: Modality
    content_hash: str
    size: int
    mtime: float


@dataclass
class Plan(Generic[K]):
    """The work of a run.

    Attributes:
        keep: keys of stored items that stay as they are.
        remove: keys of stored items to drop (file deleted or changed).
        embed: files to run through the model.
        reuse: files whose vector is copied from the stored item `key` (same content).
        unsupported: files of no supported modality, or of one the space cannot embed, and why.
        warnings: files embedded by their content although their name says otherwise.
    """

    keep: list[K] = field(default_factory=list)
    remove: list[K] = field(default_factory=list)
    embed: list[Todo] = field(default_factory=list)
    reuse: list[tuple[Todo, K]] = field(default_factory=list)
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def make_plan(
    found: Sequence[FileEntry],
    stored: Sequence[Stored[K]],
    modalities: Sequence[Modality],
    *,
    workers: int = 4,
) -> Plan[K]:
    """Compare the files `found` now with the items `stored` before.

    Args:
        found: files from `scan`.
        stored: items of the previous run (empty for a fresh run).
        modalities: what the space can embed; files of other modalities are reported.
        workers: threads hashing files.
    """
    plan: Plan[K] = Plan()
    by_path = {s.path: s for s in stored}
    by_content = {(s.content_hash, s.modality): s.key for s in stored if s.content_hash}
    candidates: list[FileEntry] = []
    for f in found:
        if f.warning is not None:
            plan.warnings.append((str(f.path), f.warning))
        if f.modality is None:
            plan.unsupported.append((str(f.path), "unsupported file type"))
        elif f.modality not in modalities:
            have = ", ".join(m.value for m in modalities)
            plan.unsupported.append(
                (str(f.path), f"the space has no {f.modality.value} tower (it has {have})")
            )
        else:
            old = by_path.get(str(f.path))
            if (
                old is not None
                and old.modality is f.modality
                and (old.size, old.mtime) == (f.size, f.mtime)
            ):
                plan.keep.append(old.key)
            else:
                candidates.append(f)
    hashes = hash_files((f.path for f in candidates), workers=workers)
    claimed: set[K] = set(plan.keep)
    for f in candidates:
        digest = hashes[f.path]
        if digest is None:
            plan.unsupported.append((str(f.path), "cannot read file"))
            continue
        old = by_path.get(str(f.path))
        if old is not None and old.modality is f.modality and old.content_hash == digest:
            plan.keep.append(old.key)
            claimed.add(old.key)
            continue
        todo = Todo(f.path, f.modality, digest, f.size, f.mtime)  # type: ignore[arg-type]
        source = by_content.get((digest, f.modality))
        if source is not None:
            plan.reuse.append((todo, source))
        else:
            plan.embed.append(todo)
    plan.remove = [s.key for s in stored if s.key not in claimed]
    return plan
