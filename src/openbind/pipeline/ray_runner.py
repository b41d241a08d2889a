"""`RayRunner`: the same embedding stage on Ray Data, for folders too big for one machine.

The files become a Ray dataset of (row, path, modality); `map_batches` runs them through a pool
of actors, each holding one space built by a picklable factory (e.g. `functools.partial(
openbind.load, "starter")`), and the driver hands finished batches to the sink as they arrive.
Inside an actor the space embeds like `LocalRunner` does: text files read into strings, corrupt
files skipped and reported. Needs the optional extra `ray` (`pip install 'openbind[ray]'`);
`ray.init` is called (with defaults) only if no Ray instance is running.

Example:
    >>> runner = RayRunner.for_model("starter", actors=4, batch_size=32)
    >>> embed_to_parquet(runner, ["s3-mounted/photos"], "photos.parquet")
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openbind.errors import require
from openbind.pipeline.plan import Todo
from openbind.pipeline.report import Skipped
from openbind.pipeline.runner import Sink, model_inputs, progress_bar, skip
from openbind.types import Modality


class EmbedActor:
    """The Ray Data UDF: builds the space once per actor and embeds batches of file rows."""

    def __init__(self, factory: Callable[[], Any], batch_size: int) -> None:
        self.space = factory()
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = batch["row"].astype(np.int64)
        paths, modalities = batch["path"].tolist(), batch["modality"].tolist()
        vectors = np.zeros((len(rows), self.space.dim), np.float32)
        errors = [""] * len(rows)
        by_modality: dict[str, list[int]] = {}
        for i, m in enumerate(modalities):
            by_modality.setdefault(m, []).append(i)
        for m, positions in by_modality.items():
            todo = [Todo(Path(paths[i]), Modality(m), "", 0, 0.0) for i in positions]
            position = {id(t): i for t, i in zip(todo, positions, strict=True)}
            skipped: list[Skipped] = []
            inputs, good = model_inputs(todo, skipped)
            report = self.space.encode_report(m, inputs, batch_size=self.batch_size, progress=False)
            skipped += [skip(good[e.index], e.reason) for e in report.errors]
            embedded = report.embeddings.numpy()
            for k, i in enumerate(report.kept):
                vectors[position[id(good[i])]] = embedded[k]
            for s in skipped:
                errors[paths.index(s.path)] = s.reason or "failed"
        return {"row": rows, "vector": vectors, "error": np.array(errors, dtype=str)}


class RayRunner:
    """Embed with a pool of Ray actors.

    Args:
        factory: picklable callable that builds the space in each actor.
        model_id: the space's id (the driver never loads the model).
        dim: its dimension.
        modalities: the modalities it embeds.
        actors: size of the actor pool.
        batch_size: items per forward pass inside an actor.
        chunk_size: rows per Ray batch (default: 8 forward passes).
        num_cpus: CPUs reserved per actor.
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        model_id: str,
        dim: int,
        modalities: Sequence[Modality | str],
        actors: int = 1,
        batch_size: int = 16,
        chunk_size: int | None = None,
        num_cpus: float = 1.0,
    ) -> None:
        self.factory = factory
        self.model_id = model_id
        self.dim = int(dim)
        self.modalities = tuple(Modality.parse(m) for m in modalities)
        self.actors = actors
        self.batch_size = batch_size
        self.chunk_size = chunk_size or 8 * batch_size
        self.num_cpus = num_cpus

    @classmethod
    def for_model(cls, name: str, **options: Any) -> RayRunner:
        """A runner for the registered model `name` (its entry gives id, dimension, modalities)."""
        import openbind
        from openbind import registry

        entry = registry.get(name)
        factory = functools.partial(openbind.load, entry.name)
        return cls(
            factory, model_id=entry.name, dim=entry.dim, modalities=entry.modalities, **options
        )

    def run(
        self, todo: Sequence[Todo], sink: Sink, *, progress: bool | None = None
    ) -> list[Skipped]:
        ray = require("ray", "ray")
        if not todo:
            return []
        if not ray.is_initialized():
            ray.init()
        rows = [
            {"row": i, "path": str(t.path), "modality": t.modality.value}
            for i, t in enumerate(todo)
        ]
        dataset = ray.data.from_items(rows).map_batches(
            EmbedActor,
            fn_constructor_kwargs={"factory": self.factory, "batch_size": self.batch_size},
            batch_size=self.chunk_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=self.num_cpus,
        )
        skipped: list[Skipped] = []
        bar = progress_bar(len(todo), progress)
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                ok = batch["error"] == ""
                done = [todo[int(i)] for i in batch["row"][ok]]
                skipped += [
                    Skipped(str(todo[int(i)].path), str(e))
                    for i, e in zip(batch["row"][~ok], batch["error"][~ok], strict=True)
                ]
                if done:
                    sink(done, np.asarray(batch["vector"][ok], np.float32))
                if bar is not None:
                    bar.update(len(batch["row"]))
        finally:
            if bar is not None:
                bar.close()
        return skipped
