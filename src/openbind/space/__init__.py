"""Space models: modality towers in one embedding space, with L2-normalised `Embeddings`."""

from openbind.space.model import SpaceModel
from openbind.space.protocol import EncodeReport, ItemError, Space, is_space

__all__ = ["EncodeReport", "ItemError", "Space", "SpaceModel", "is_space"]
