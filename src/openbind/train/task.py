"""`BindTask`: towers + the contrastive loss + which towers train.

ImageBind (Girdhar et al., CVPR 2023) binds every modality to a frozen image anchor with
image-X pairs only; LanguageBind (Zhu et al., ICLR 2024) binds to a frozen text anchor, with LoRA
on the other towers. Both are this task: each batch holds paired items of several modalities, each
non-anchor modality is pulled to the anchor with symmetric InfoNCE, and only the trainable towers
(by default every tower except the anchor's) receive gradients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from openbind.losses import LogitScale, clip_loss
from openbind.train.distributed import SINGLE_PROCESS, DistContext
from openbind.types import Modality


@dataclass
class TaskOutput:
    """The loss to back-propagate, and each pair's loss (detached) for logging."""

    loss: torch.Tensor
    pair_losses: dict[str, float]


class BindTask(nn.Module):
    """Bind modalities to an anchor modality with symmetric InfoNCE.

    Args:
        towers: per modality, a module mapping a batch (B, *input) to features (B, D).
        anchor: the modality every other one is paired with.
        trainable: modalities whose towers train; None trains all but the anchor. Towers not listed
            are frozen (no grad, kept in eval mode). A trainable tower that went through
            `add_lora` trains only its adapters.
        logit_scale: the loss temperature (learnable or fixed).
        dist: rank / world size / gather of the run, passed to the loss.
    """

    def __init__(
        self,
        towers: Mapping[Modality | str, nn.Module],
        anchor: Modality | str,
        *,
        trainable: Iterable[Modality | str] | None = None,
        logit_scale: LogitScale | None = None,
        dist: DistContext = SINGLE_PROCESS,
    ) -> None:
        super().__init__()
        self.towers = nn.ModuleDict({Modality.parse(m).value: t for m, t in towers.items()})
        self.anchor = Modality.parse(anchor).value
        if self.anchor not in self.towers:
            raise ValueError(f"anchor {self.anchor} has no tower; towers: {sorted(self.towers)}")
        names = (
            [m for m in self.towers if m != self.anchor]
            if trainable is None
            else [Modality.parse(m).value for m in trainable]
        )
        unknown = sorted(set(names) - set(self.towers))
        if unknown:
            raise ValueError(f"trainable {unknown} have no tower; towers: {sorted(self.towers)}")
        for name, tower in self.towers.items():
            if name not in names:
                tower.requires_grad_(False)
        self.logit_scale = logit_scale if logit_scale is not None else LogitScale()
        self.dist = dist

    @property
    def frozen(self) -> list[str]:
        """Modalities whose towers have no trainable parameter."""
        return [
            m for m, t in self.towers.items() if not any(p.requires_grad for p in t.parameters())
        ]

    def train(self, mode: bool = True) -> BindTask:
        super().train(mode)
        for m in self.frozen:
            self.towers[m].eval()  # frozen towers keep eval behaviour (dropout off, fixed BN stats)
        return self

    def embed(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """L2-normalised embeddings (B, D) of each modality of `batch` that has a tower."""
        frozen = set(self.frozen)
        out = {}
        for m, x in batch.items():
            if m not in self.towers:
                continue
            with torch.set_grad_enabled(torch.is_grad_enabled() and m not in frozen):
                out[m] = F.normalize(self.towers[m](x).float(), dim=-1)  # (B, D)
        return out

    def forward(self, batch: Mapping[str, torch.Tensor]) -> TaskOutput:
        """The sum over non-anchor modalities m of InfoNCE(anchor, m) on the global batch."""
        emb = self.embed(batch)
        if self.anchor not in emb:
            raise ValueError(f"batch has no {self.anchor} (the anchor); it has {sorted(batch)}")
        scale = self.logit_scale()
        losses = {}
        for m in emb:
            if m == self.anchor:
                continue
            losses[f"{self.anchor}-{m}"] = clip_loss(
                emb[self.anchor],
                emb[m],
                scale,
                rank=self.dist.rank,
                world_size=self.dist.world_size,
                all_gather=self.dist.all_gather,
            )
        if not losses:
            raise ValueError(f"batch has only the anchor ({self.anchor}); nothing to bind")
        total = torch.stack(list(losses.values())).sum()
        return TaskOutput(total, {k: v.item() for k, v in losses.items()})

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """State of the towers that train (parameters and buffers) and of the temperature."""
        frozen = set(self.frozen)
        return {
            k: v
            for k, v in self.state_dict().items()
            if not (k.startswith("towers.") and k.split(".")[1] in frozen)
        }
