"""Pseudo tuples from unimodal memories by soft retrieval (Ex-MCR's recipe, `freebind.md` 3.2).

Every unimodal collection (a memory) is encoded by every space that accepts its modality. For a
centre modality q, each item of q's memory starts a tuple: the spaces that have q contribute its
own embedding; every other modality n is filled by soft retrieval

    R(x, K, W) = softmax_topk(<x, K_j> / tau_r) @ W

where the weights are computed in a space that has both q and n and re-used for every space's
encoding of n's memory (the same items). Retrieved rows are renormalised. Optional Gaussian
noise (C-MCR) is added to source rows during training, not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from openbind.types import Modality

Memory = Mapping[Modality, Mapping[str, torch.Tensor]]
"""Per modality, per space name ("source" / "target"), the (N_m, D_space) embeddings of that
modality's collection."""


@dataclass
class Tuples:
    """Pseudo tuples: per space ("source", "target") and modality, (N, D) unit rows, and the
    centre modality of each row."""

    rows: dict[str, dict[Modality, torch.Tensor]]
    centre: list[Modality]

    def __len__(self) -> int:
        return len(self.centre)

    def take(self, index: torch.Tensor) -> Tuples:
        return Tuples(
            {s: {m: v[index] for m, v in d.items()} for s, d in self.rows.items()},
            [self.centre[int(i)] for i in index],
        )


def soft_weights(query: torch.Tensor, keys: torch.Tensor, tau: float, top_k: int) -> torch.Tensor:
    """(Q, K) softmax weights of `<query, keys> / tau`, keeping each row's top_k (0: all)."""
    sims = query @ keys.T  # (Q, K)
    if 0 < top_k < keys.shape[0]:
        values, index = sims.topk(top_k, dim=1)
        weights = torch.zeros_like(sims)
        return weights.scatter_(1, index, F.softmax(values / tau, dim=1))
    return F.softmax(sims / tau, dim=1)


def build_tuples(
    memory: Memory,
    centres: Sequence[Modality],
    *,
    tau: float = 0.02,
    top_k: int = 32,
) -> Tuples:
    """Pseudo tuples centred on each modality of `centres` (see the module docstring).

    A tuple is kept only if every modality present in the memory could be filled for the source
    space (or is absent from it) and for the target space.
    """
    spaces = ("source", "target")
    parts: list[dict[str, dict[Modality, torch.Tensor]]] = []
    centre_of: list[list[Modality]] = []
    for q in centres:
        if q not in memory:
            continue
        have_q = memory[q]
        n_items = next(iter(have_q.values())).shape[0]
        rows: dict[str, dict[Modality, torch.Tensor]] = {s: {} for s in spaces}
        for s in spaces:
            if s in have_q:
                rows[s][q] = have_q[s]
        for n, have_n in memory.items():
            if n == q:
                continue
            judge = next((s for s in spaces if s in have_q and s in have_n), None)
            if judge is None:
                continue
            w = soft_weights(have_q[judge], have_n[judge], tau, top_k)  # (N_q, N_n)
            for s in spaces:
                if s in have_n:
                    rows[s][n] = F.normalize(w @ have_n[s], dim=-1)
        parts.append(rows)
        centre_of.append([q] * n_items)
    mods = {s: {m for p in parts for m in p[s]} for s in spaces}
    keep = [k for k, p in enumerate(parts) if all(set(p[s]) == mods[s] for s in spaces)]
    out = {
        s: {m: torch.cat([parts[k][s][m] for k in keep]) for m in sorted(mods[s], key=str)}
        for s in spaces
    }
    return Tuples(out, [c for k in keep for c in centre_of[k]])
