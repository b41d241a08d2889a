"""The process-group context of a run: single process, or DDP under `torchrun`.

`torchrun --nproc-per-node N --master-addr 127.0.0.1 -m openbind train recipe.yaml` starts N
processes with RANK / WORLD_SIZE / LOCAL_RANK set; `init_distributed` reads them (when called, never
at import) and joins the group with gloo on CPU or nccl on GPU. Everything downstream takes the
resulting `DistContext` explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from openbind.losses import AllGather


@dataclass(frozen=True)
class DistContext:
    """Who this process is in the run.

    Attributes:
        rank: index of this process (0 writes checkpoints, metrics and validates).
        world_size: number of processes.
        local_rank: index on this machine (picks the GPU).
        all_gather: the collective the loss uses to see the global batch (None: torch.distributed's).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    all_gather: AllGather | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


SINGLE_PROCESS = DistContext()
"""The context of a run without DDP."""


def init_distributed() -> DistContext:
    """Join the process group described by torchrun's environment, or run as one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not torch.distributed.is_initialized():
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (no-op for a single process)."""
    if ctx.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
