"""Index a folder tree or file list into a `Library`, incrementally and resumably.

`index_files` compares the files with the library's items (`plan.make_plan`): unchanged files are
kept, deleted and changed ones removed, new and changed ones embedded (or their vector reused from
an identical stored file). The library is committed every `commit_every` embedded files, so a
killed build loses at most that much work: run it again and it carries on from the last commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openbind.errors import BadInput
from openbind.index import Filter, Library, Record
from openbind.index.tags import Tags, read_tags
from openbind.pipeline.plan import Stored, Todo, make_plan
from openbind.pipeline.report import RunSummary, Skipped
from openbind.pipeline.runner import LocalRunner, Runner
from openbind.pipeline.scan import scan
from openbind.types import Modality


def build_library(
    space: Any,
    path: str | Path,
    inputs: Sequence[str | Path],
    *,
    kind: str = "flat",
    params: dict[str, Any] | None = None,
    force: Modality | str | None = None,
    progress: bool | None = None,
    follow_symlinks: bool = False,
    tags: str | Path | None = None,
) -> tuple[Library, RunSummary]:
    """Create a library in `path` and index `inputs` into it (see `index_files`).

    If `path` already holds a library of the same space (e.g. an interrupted build), it is
    updated instead, with `inputs` as its new roots.
    """
    runner: Runner = space if hasattr(space, "run") else LocalRunner(space)
    roots = [str(Path(p).expanduser().resolve()) for p in inputs]
    if Library.exists(path):
        lib = Library.open(path, model_id=runner.model_id, dim=runner.dim)
    else:
        lib = Library.create(
            path, model_id=runner.model_id, dim=runner.dim, kind=kind, params=params, roots=roots
        )
    summary = index_files(
        runner,
        lib,
        roots,
        force=force,
        progress=progress,
        follow_symlinks=follow_symlinks,
        tags=tags,
    )
    return lib, summary


def index_files(
    space: Any,
    lib: Library,
    inputs: Sequence[str | Path] | None = None,
    *,
    force: Modality | str | None = None,
    progress: bool | None = None,
    commit_every: int = 2000,
    follow_symlinks: bool = False,
    tags: str | Path | None = None,
) -> RunSummary:
    """Bring `lib` in line with the files under `inputs` (default: the library's roots).

    Args:
        space: an `openbind.Space` or a `Runner`.
        lib: an open library of the same space.
        inputs: folders and files; they become the library's roots.
        force: embed every file as this modality instead of detecting it.
        progress: show a progress bar (None: when stderr is a terminal).
        commit_every: commit after this many embedded files (and at the end).
        follow_symlinks: also index files whose symbolic links lead out of the roots (under
            the link's path); by default they are left out (and dropped from the library).
        tags: a sidecar CSV/JSON of user tags (`openbind.index.tags`); it is remembered, and
            later runs read it again (default: the one remembered, if any).

    Raises:
        IndexMismatch: the library was built with another space.
        BadInput: no inputs and no roots, or an input does not exist.
    """
    started = time.perf_counter()
    runner: Runner = space if hasattr(space, "run") else LocalRunner(space)
    lib.manifest.check(model_id=runner.model_id, dim=runner.dim, where=str(lib.path))
    roots = (
        [str(Path(p).expanduser().resolve()) for p in inputs]
        if inputs
        else list(lib.manifest.roots)
    )
    if not roots:
        raise BadInput(f"library {lib.path} has no roots; say which folders or files to index")
    if tuple(roots) != lib.manifest.roots:
        lib.set_roots(roots)
    if tags is not None:
        lib.set_tags_file(tags)
    user_tags = read_tags(lib.manifest.tags_file) if lib.manifest.tags_file else {}
    stored = [_stored(r) for r in lib.records()]
    found = scan(roots, force=force, follow_symlinks=follow_symlinks)
    plan = make_plan(found, stored, runner.modalities)
    return _apply(runner, lib, plan, user_tags, started, progress, commit_every)


def update_paths(
    space: Any,
    lib: Library,
    paths: Sequence[str | Path],
    *,
    force: Modality | str | None = None,
    progress: bool | None = False,
) -> RunSummary:
    """Bring only `paths` in line with the library: what a file watcher saw change.

    Each path may be a file or folder that appeared or changed (it is scanned), or one that is
    gone (its items, and those of everything under it, are removed). Paths outside the library's
    roots are ignored. The cost is that of the paths, not of the library.

    Raises:
        IndexMismatch: the library was built with another space.
    """
    started = time.perf_counter()
    runner: Runner = space if hasattr(space, "run") else LocalRunner(space)
    lib.manifest.check(model_id=runner.model_id, dim=runner.dim, where=str(lib.path))
    roots = [Path(r) for r in lib.manifest.roots]
    wanted = sorted(
        {
            Path(p).resolve()
            for p in paths
            if any(Path(p).resolve().is_relative_to(r) for r in roots)
        }
    )
    present = [p for p in wanted if p.exists() and not _hidden(p, roots)]
    stored = {
        r.id: _stored(r)
        for p in wanted
        for r in lib.find(Filter(path_prefix=str(p)))
        if r.path == str(p) or r.path.startswith(str(p).rstrip("/") + "/")
    }
    found = scan(present, force=force) if present else []
    plan = make_plan(found, list(stored.values()), runner.modalities)
    user_tags = read_tags(lib.manifest.tags_file) if lib.manifest.tags_file else {}
    return _apply(runner, lib, plan, user_tags, started, progress, 10**9)


def _apply(
    runner: Runner,
    lib: Library,
    plan: Any,
    user_tags: Tags,
    started: float,
    progress: bool | None,
    commit_every: int,
) -> RunSummary:
    """Carry out a plan: remove, reuse, embed (committing every `commit_every` files), commit."""
    reuse_vectors = lib.vectors([k for _, k in plan.reuse]) if plan.reuse else None
    if plan.remove:
        lib.remove(plan.remove)
    if reuse_vectors is not None:
        lib.add(reuse_vectors, [_record(t, user_tags) for t, _ in plan.reuse])
    pending = 0

    def sink(done: list[Todo], vectors: np.ndarray) -> None:
        nonlocal pending
        lib.add(vectors, [_record(t, user_tags) for t in done])
        pending += len(done)
        if pending >= commit_every:
            lib.commit()
            pending = 0

    embedded_before = len(lib)
    skipped = [Skipped(p, r) for p, r in plan.unsupported]
    skipped += runner.run(plan.embed, sink, progress=progress)
    lib.commit()
    return RunSummary(
        embedded=len(lib) - embedded_before,
        reused=len(plan.reuse),
        unchanged=len(plan.keep),
        removed=len(plan.remove),
        skipped=skipped,
        warnings=[Skipped(p, w) for p, w in plan.warnings],
        seconds=time.perf_counter() - started,
        total=len(lib),
    )


def _stored(r: Record) -> Stored[int]:
    return Stored(r.id, r.path, r.modality, r.content_hash, r.size, r.mtime)


def _hidden(path: Path, roots: list[Path]) -> bool:
    """Whether `path` is, or lies in, a hidden file or folder below its root (never indexed)."""
    for root in roots:
        if path.is_relative_to(root):
            return any(part.startswith(".") for part in path.relative_to(root).parts)
    return False


def _record(t: Todo, tags: Tags) -> Record:
    extra = {"tags": tags[str(t.path)]} if tags.get(str(t.path)) else {}
    return Record(str(t.path), t.modality, t.content_hash, t.size, t.mtime, extra)
