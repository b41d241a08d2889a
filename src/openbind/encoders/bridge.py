"""Training-free bridges from a classifier into a text space, and frame pooling for video.

`ClassBridgeTower` maps an image classifier into a sentence-embedding space: its class
probabilities weight the text embeddings of the class names (a "semantic bank"),

    z = sum_c softmax(logits / T)_c * bank_c        (optionally only the top-k classes)

in the spirit of ConSE (Norouzi et al., 2014, arXiv:1312.5650). `FrameTower` runs an image tower
on every frame of video clips and averages the unit frame vectors over time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openbind.types import Modality


class ClassBridgeTower(nn.Module):
    """Image tower: (N, 3, H, W) -> (N, D), the probability-weighted sum of class text embeddings.

    Args:
        classifier: maps images to class logits (N, C).
        bank: (C, D) text embeddings of the class names (unit rows).
        temperature: divides the logits before the softmax (< 1 sharpens).
        top_k: keep only the k most likely classes (renormalised); 0 keeps all.
        logit_scale: the temperature zero-shot scores are scaled by.

    Example:
        >>> net = torch.nn.Linear(3 * 2 * 2, 5)
        >>> tower = ClassBridgeTower(torch.nn.Sequential(torch.nn.Flatten(), net), torch.eye(5, 8))
        >>> tower(torch.zeros(2, 3, 2, 2)).shape
        torch.Size([2, 8])
    """

    modality = Modality.IMAGE

    def __init__(
        self,
        classifier: nn.Module,
        bank: torch.Tensor,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        logit_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.classifier = classifier
        self.register_buffer("bank", bank.float(), persistent=False)
        self.temperature = temperature
        self.top_k = top_k
        self.out_dim = bank.shape[1]
        self._logit_scale = logit_scale

    @property
    def logit_scale(self) -> float:
        return self._logit_scale

    def class_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C) bridge weights: tempered softmax, top-k sparsified."""
        probs = (self.classifier(images).float() / self.temperature).softmax(-1)  # (N, C)
        if 0 < self.top_k < probs.shape[1]:
            top = probs.topk(self.top_k, dim=-1)
            probs = torch.zeros_like(probs).scatter_(-1, top.indices, top.values)
            probs = probs / probs.sum(-1, keepdim=True)
        return probs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.class_probabilities(images) @ self.bank.to(images.device)  # (N, D)


class FrameTower(nn.Module):
    """Video tower: (N, 3, T, H, W) clips -> (N, D), the mean of the unit frame embeddings.

    Example:
        >>> image = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2, 4))
        >>> image.out_dim = 4
        >>> FrameTower(image)(torch.zeros(2, 3, 5, 2, 2)).shape
        torch.Size([2, 4])
    """

    modality = Modality.VIDEO

    def __init__(self, image_tower: nn.Module) -> None:
        super().__init__()
        self.image = image_tower
        self.out_dim = image_tower.out_dim

    @property
    def logit_scale(self) -> float:
        return float(getattr(self.image, "logit_scale", 1.0))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = clips.shape
        frames = clips.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)  # (N*T, 3, H, W)
        unit = F.normalize(self.image(frames).float(), dim=-1).view(n, t, -1)  # (N, T, D)
        return unit.mean(1)  # (N, D)
