"""Which rows make up each micro-batch: a pure function of (seed, step), for exact resume and DDP.

Each epoch is a permutation of the rows drawn from `seed + epoch`; micro-step k takes the k-th run
of `batch_size * world_size` rows of it (the global batch) and rank r takes its r-th slice. A
single process with batch G and W processes with batch G / W therefore see the same global
batches, and a resumed run continues with exactly the batches an uninterrupted one would have had.
The last incomplete global batch of an epoch is dropped (contrastive losses want full batches).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from openbind.errors import BadInput


class BatchPlan(Sampler[list[int]]):
    """Row indices of this rank's micro-batches, from micro-step `start` to `stop`.

    Args:
        num_rows: rows in the dataset.
        batch_size: rows per rank per micro-step.
        world_size: number of ranks.
        rank: this rank.
        seed: seeds the per-epoch permutations.
        start: first micro-step to yield (resume).
        stop: micro-step to stop before.

    Raises:
        BadInput: fewer rows than one global batch.
    """

    def __init__(
        self,
        num_rows: int,
        batch_size: int,
        *,
        world_size: int = 1,
        rank: int = 0,
        seed: int = 0,
        start: int = 0,
        stop: int,
    ) -> None:
        global_batch = batch_size * world_size
        if num_rows < global_batch:
            raise BadInput(
                f"{num_rows} training rows are fewer than one global batch of {global_batch} "
                f"({batch_size} x {world_size} processes)"
            )
        self.num_rows = num_rows
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.start = start
        self.stop = stop
        self.steps_per_epoch = num_rows // global_batch

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, order = -1, torch.empty(0, dtype=torch.long)
        for k in range(self.start, self.stop):
            if k // self.steps_per_epoch != epoch:
                epoch = k // self.steps_per_epoch
                order = torch.randperm(
                    self.num_rows, generator=torch.Generator().manual_seed(self.seed + epoch)
                )
            first = (
                k % self.steps_per_epoch
            ) * self.batch_size * self.world_size + self.rank * self.batch_size
            yield order[first : first + self.batch_size].tolist()
