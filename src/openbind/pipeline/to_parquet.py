"""`embed_to_parquet`: embed a folder tree or file list into a Parquet file, incrementally.

Run it again on the same output and only new or changed files are embedded; rows of deleted
files are dropped (the file mirrors its inputs). While running, each finished chunk is written to
`OUT.parts/part-NNNNN.parquet`; an interrupted run resumes from those parts, and a finished run
merges everything into `OUT` atomically and deletes the parts.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openbind.pipeline.parquet import EmbeddingTable, read_embeddings, write_embeddings
from openbind.pipeline.plan import Stored, Todo, make_plan
from openbind.pipeline.report import RunSummary, Skipped
from openbind.pipeline.runner import LocalRunner, Runner
from openbind.pipeline.scan import scan
from openbind.types import Modality


def embed_to_parquet(
    space: Any,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    force: Modality | str | None = None,
    progress: bool | None = None,
) -> RunSummary:
    """Embed every supported file under `inputs` into `out`.

    Args:
        space: an `openbind.Space`, or a `Runner` (e.g. `LocalRunner(space, batch_size=32)`).
        inputs: folders (walked recursively) and files.
        out: the Parquet file to create or update.
        force: embed every file as this modality instead of detecting it.
        progress: show a progress bar (None: when stderr is a terminal).

    Returns:
        Counts, and the files that were skipped with the reason.

    Raises:
        BadInput: an input does not exist, or `out` is not an openbind embeddings file.
        IndexMismatch: `out` holds embeddings of another space.
    """
    started = time.perf_counter()
    runner: Runner = space if hasattr(space, "run") else LocalRunner(space)
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    previous = _previous(out, parts, runner)
    stored = [
        Stored(i, p, m, h, s, t)
        for i, (p, m, h, s, t) in enumerate(
            zip(
                previous.paths,
                previous.modalities,
                previous.hashes,
                previous.sizes,
                previous.mtimes,
                strict=True,
            )
        )
    ]
    plan = make_plan(scan(inputs, force=force), stored, runner.modalities)

    new: list[EmbeddingTable] = []
    parts.mkdir(exist_ok=True)
    counter = len(list(parts.glob("part-*.parquet")))

    def sink(done: list[Todo], vectors: np.ndarray) -> None:
        nonlocal counter
        table = _table(runner.model_id, runner.dim, done, vectors)
        write_embeddings(parts / f"part-{counter:05d}.parquet", table)
        counter += 1
        new.append(table)

    skipped = [Skipped(p, r) for p, r in plan.unsupported]
    skipped += runner.run(plan.embed, sink, progress=progress)
    reused = _table(
        runner.model_id,
        runner.dim,
        [t for t, _ in plan.reuse],
        previous.vectors[[k for _, k in plan.reuse]]
        if plan.reuse
        else np.zeros((0, runner.dim), np.float32),
    )
    result = EmbeddingTable.concat(
        runner.model_id, runner.dim, [previous.take(plan.keep), reused, *new]
    )
    result = result.take(
        sorted(range(len(result)), key=lambda i: (result.paths[i], result.modalities[i].value))
    )
    write_embeddings(out, result)
    shutil.rmtree(parts, ignore_errors=True)
    return RunSummary(
        embedded=sum(len(t) for t in new),
        reused=len(plan.reuse),
        unchanged=len(plan.keep),
        removed=len(plan.remove),
        skipped=skipped,
        warnings=[Skipped(p, w) for p, w in plan.warnings],
        seconds=time.perf_counter() - started,
        total=len(result),
    )


def _previous(out: Path, parts: Path, runner: Runner) -> EmbeddingTable:
    tables = []
    if out.exists():
        tables.append(read_embeddings(out, model_id=runner.model_id))
    if parts.is_dir():
        tables += [
            read_embeddings(p, model_id=runner.model_id)
            for p in sorted(parts.glob("part-*.parquet"))
        ]
    return EmbeddingTable.concat(runner.model_id, runner.dim, tables)


def _table(model_id: str, dim: int, todo: Sequence[Todo], vectors: np.ndarray) -> EmbeddingTable:
    return EmbeddingTable(
        model_id,
        [str(t.path) for t in todo],
        [t.modality for t in todo],
        [t.content_hash for t in todo],
        [t.size for t in todo],
        [t.mtime for t in todo],
        np.asarray(vectors, np.float32).reshape(len(todo), dim),
    )
