"""The tower contract every encoder follows.

A tower maps a batch of single clips of one modality, already preprocessed, to features in the
shared space (before L2 normalisation):

    tower(x)  # x: (N, *input_shape) -> (N, D)

Multi-clip inputs (video, long audio) are flattened to clips by the space, which pools the clip
embeddings afterwards (`openbind.space.pooling`). `logit_scale` is the temperature the model was
trained with for this modality (1.0 when it has none); it is never applied to embeddings, only to
scores whose kind says "logit".
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from openbind.types import Modality


@runtime_checkable
class Tower(Protocol):
    """What `SpaceModel` needs from an encoder (an `nn.Module`)."""

    modality: Modality
    out_dim: int

    @property
    def logit_scale(self) -> float: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def eval(self) -> Tower: ...
