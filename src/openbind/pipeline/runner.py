"""Run files through a space in chunks, handing each chunk's vectors to a sink as it finishes.

`LocalRunner` uses the space in this process: `Space.encode_report` decodes the next batch
in worker threads while the model runs the current one, and skips corrupt files. Files are
grouped by modality (text files are read into strings first) and fed in chunks of `chunk_size`, so results reach disk as they come (an
interrupted run keeps what it finished) and the progress bar (tqdm: files, rate, ETA) moves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from openbind.pipeline.plan import Todo
from openbind.pipeline.report import Skipped
from openbind.types import Modality

Sink = Callable[[list[Todo], np.ndarray], None]
"""Receives the files of a chunk that embedded fine and their (N, D) vectors."""


class Runner(Protocol):
    """Embeds files and streams the results to a sink."""

    dim: int
    model_id: str
    modalities: tuple[Modality, ...]

    def run(
        self, todo: Sequence[Todo], sink: Sink, *, progress: bool | None = None
    ) -> list[Skipped]:
        """Embed `todo`, calling `sink` per chunk; returns the files that failed, and why."""
        ...


class LocalRunner:
    """Embed with an `openbind.Space` in this process.

    Args:
        space: the space (`openbind.load(...)`).
        batch_size: items per forward pass (default: the space's own).
        chunk_size: files per sink call (default: 8 batches, or 128 files).
    """

    def __init__(
        self, space: Any, *, batch_size: int | None = None, chunk_size: int | None = None
    ) -> None:
        self.space = space
        self.batch_size = batch_size
        self.chunk_size = chunk_size or (8 * batch_size if batch_size else 128)
        self.dim = int(space.dim)
        self.model_id = str(space.model_id)
        self.modalities = tuple(space.modalities)

    def run(
        self, todo: Sequence[Todo], sink: Sink, *, progress: bool | None = None
    ) -> list[Skipped]:
        skipped: list[Skipped] = []
        bar = progress_bar(len(todo), progress)
        try:
            for modality, items in group_by_modality(todo).items():
                for start in range(0, len(items), self.chunk_size):
                    chunk = items[start : start + self.chunk_size]
                    inputs, good = model_inputs(chunk, skipped)
                    report = self.space.encode_report(
                        modality, inputs, batch_size=self.batch_size, progress=False
                    )
                    skipped.extend(skip(good[e.index], e.reason) for e in report.errors)
                    if report.kept:
                        sink([good[i] for i in report.kept], report.embeddings.numpy())
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return skipped


def model_inputs(chunk: Sequence[Todo], skipped: list[Skipped]) -> tuple[list[Any], list[Todo]]:
    """What the space's transforms take for each file: the text of text files (read as UTF-8),
    the path of any other file. Unreadable text files are added to `skipped`."""
    from openbind.errors import BadInput
    from openbind.io.text import read_text

    inputs: list[Any] = []
    good: list[Todo] = []
    for t in chunk:
        if t.modality is Modality.TEXT:
            try:
                inputs.append(read_text(t.path))
            except BadInput as e:
                skipped.append(skip(t, str(e)))
                continue
        else:
            inputs.append(t.path)
        good.append(t)
    return inputs, good


def group_by_modality(todo: Sequence[Todo]) -> dict[Modality, list[Todo]]:
    """Files per modality, in first-seen modality order and file order."""
    groups: dict[Modality, list[Todo]] = {}
    for t in todo:
        groups.setdefault(t.modality, []).append(t)
    return groups


def progress_bar(total: int, progress: bool | None) -> Any:
    """A tqdm bar counting files (rate and ETA), or None when `progress` is False, or None and
    stderr is not a terminal."""
    import sys

    if total == 0 or progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="embedding", unit="file", smoothing=0.1)


def skip(t: Todo, reason: str) -> Skipped:
    """`Skipped` for `t`, without the "path: " prefix decoders put in front of their messages."""
    prefix = f"{t.path}: "
    return Skipped(str(t.path), reason[len(prefix) :] if reason.startswith(prefix) else reason)
