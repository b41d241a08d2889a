"""Contrastive losses as pure functions of embeddings; the distributed context is passed in."""

from openbind.losses.contrastive import LogitScale, clip_loss, info_nce
from openbind.losses.gather import AllGather, gather_with_grad

__all__ = ["AllGather", "LogitScale", "clip_loss", "gather_with_grad", "info_nce"]
