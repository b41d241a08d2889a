"""Core value types: the `Modality` enum and the always-normalised `Embeddings` result."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openbind.errors import BadInput

if TYPE_CHECKING:
    import numpy as np
    import torch


class Modality(str, enum.Enum):
    """A kind of input a space can embed. Values are the lower-case names used everywhere."""

    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DEPTH = "depth"
    THERMAL = "thermal"
    IMU = "imu"

    @classmethod
    def parse(cls, value: Modality | str) -> Modality:
        """Return the member for `value` ("image", Modality.IMAGE, or the reference alias "vision").

        Raises:
            BadInput: `value` names no modality; the message lists the valid names.
        """
        if isinstance(value, cls):
            return value
        name = str(value).strip().lower()
        name = _ALIASES.get(name, name)
        try:
            return cls(name)
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise BadInput(f"unknown modality {value!r}; valid: {valid}") from None

    def __str__(self) -> str:
        return self.value

    def __hash__(self) -> int:
        # Hash like the plain string, so {"audio": x} and {Modality.AUDIO: x} find each other.
        return hash(self.value)


_ALIASES = {"vision": "image", "images": "image", "videos": "video", "rgb": "image"}


@dataclass(frozen=True, eq=False)
class Embeddings:
    """L2-normalised vectors of one modality from one space.

    Attributes:
        vectors: (N, D) float32 tensor on the CPU; every row has unit L2 norm.
        modality: what was embedded.
        model_id: the space that produced them (`family_variant.tag`).
    """

    vectors: torch.Tensor
    modality: Modality
    model_id: str

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2:
            raise BadInput(f"embeddings must be 2-D (N, D), got shape {tuple(self.vectors.shape)}")

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def numpy(self) -> np.ndarray:
        """The vectors as a float32 numpy array (N, D)."""
        return self.vectors.detach().cpu().float().numpy()

    def torch(self) -> torch.Tensor:
        return self.vectors

    def __matmul__(self, other: Embeddings) -> torch.Tensor:
        """Cosine similarity matrix (N, M) with another set of embeddings of the same space."""
        if other.model_id != self.model_id or other.dim != self.dim:
            from openbind.errors import SpaceMismatch

            raise SpaceMismatch(
                f"cannot compare {self.model_id} ({self.dim}-d) with {other.model_id} ({other.dim}-d)"
            )
        return self.vectors @ other.vectors.T
