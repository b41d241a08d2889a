"""Space models: modality towers in one embedding space, with L2-normalised `Embeddings`."""

from openbind.space.model import EncodeReport, ItemError, SpaceModel

__all__ = ["EncodeReport", "ItemError", "SpaceModel"]
