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
    """L2-normalised vectors of one modality from one space; behaves like an (N, D) array.

    `np.asarray(emb)`, faiss and scikit-learn take it directly; `emb[2]`, `emb[1:5]` and
    `emb[[0, 3]]` select rows (still `Embeddings`); `a @ b.T` (or `a.similarity(b)`) is the
    (N, M) cosine matrix, refused between different spaces.

    Attributes:
        vectors: (N, D) float32 tensor on the CPU; every row has unit L2 norm.
        modality: what was embedded.
        model_id: the space that produced them (`family_variant.tag`).

    Example:
        >>> emb = space.encode({"audio": ["meow.wav"], "text": ["a cat", "a dog"]})
        >>> emb["audio"] @ emb["text"].T  # (1, 2) cosine similarities
    """

    vectors: torch.Tensor
    modality: Modality
    model_id: str

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2:
            raise BadInput(f"embeddings must be 2-D (N, D), got shape {tuple(self.vectors.shape)}")

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def __repr__(self) -> str:
        return f"Embeddings({self.modality.value}, shape={self.shape}, model_id={self.model_id!r})"

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.vectors.shape[0], self.vectors.shape[1])

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of `np.asarray(self)` (float32)."""
        import numpy as np

        return np.dtype(str(self.vectors.dtype).removeprefix("torch."))

    def numpy(self) -> np.ndarray:
        """The vectors as a float32 numpy array (N, D)."""
        return self.vectors.detach().cpu().float().numpy()

    def torch(self) -> torch.Tensor:
        return self.vectors

    def __array__(self, dtype: object = None, copy: bool | None = None) -> np.ndarray:
        out = self.vectors.detach().cpu().numpy()
        if dtype is not None:
            out = out.astype(dtype, copy=False)
        return out.copy() if copy else out

    def __getitem__(self, rows: object) -> Embeddings:
        """Rows selected by an int, a slice, or an index / boolean array; always 2-D."""
        import torch

        if isinstance(rows, int):
            rows = slice(rows, rows + 1 if rows != -1 else None)
            if not -len(self) <= rows.start < len(self):
                raise IndexError(f"row {rows.start} is out of range for {len(self)} embeddings")
        elif not isinstance(rows, slice):
            rows = torch.as_tensor(_index(rows))
        return Embeddings(self.vectors[rows], self.modality, self.model_id)

    @property
    def T(self) -> Transposed:  # noqa: N802 (numpy spelling)
        """The transpose, for `a @ b.T` (and `np.asarray(b.T)`, a (D, N) array)."""
        return Transposed(self)

    def similarity(self, other: Embeddings) -> torch.Tensor:
        """Cosine similarity matrix (N, M) with embeddings of the same space.

        Raises:
            SpaceMismatch: `other` comes from another space or has another width.
        """
        if other.model_id != self.model_id or other.dim != self.dim:
            from openbind.errors import SpaceMismatch

            raise SpaceMismatch(
                f"cannot compare {self.model_id} ({self.dim}-d) with {other.model_id} ({other.dim}-d)"
            )
        return self.vectors @ other.vectors.T

    def __matmul__(self, other: Embeddings | Transposed) -> torch.Tensor:
        """`a @ b.T`: the (N, M) cosine matrix (`a @ b` is accepted too, with the same meaning)."""
        if isinstance(other, Transposed):
            other = other.embeddings
        if not isinstance(other, Embeddings):
            return NotImplemented
        return self.similarity(other)


@dataclass(frozen=True, eq=False)
class Transposed:
    """`Embeddings.T`: a (D, N) view for matrix products and numpy."""

    embeddings: Embeddings

    @property
    def shape(self) -> tuple[int, int]:
        n, d = self.embeddings.shape
        return (d, n)

    def __array__(self, dtype: object = None, copy: bool | None = None) -> np.ndarray:
        return self.embeddings.__array__(dtype, copy).T


def _index(rows: object) -> object:
    """Index arrays as torch accepts them (numpy bool / int arrays, lists, tensors)."""
    tolist = getattr(rows, "tolist", None)
    return tolist() if callable(tolist) and not hasattr(rows, "is_floating_point") else rows
