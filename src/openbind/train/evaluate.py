"""Validation during training: cross-modal retrieval recall on a held-out split."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from openbind.train.task import BindTask


def recall_at_k(
    queries: torch.Tensor, keys: torch.Tensor, ks: tuple[int, ...] = (1, 5)
) -> dict[int, float]:
    """Share of queries whose own key (same row) ranks in the top k by cosine similarity.

    Args:
        queries: (N, D) normalised embeddings.
        keys: (N, D) normalised embeddings; row i is the match of query i.
        ks: the cut-offs.
    """
    sims = queries @ keys.T  # (N, N)
    own = sims.diagonal().unsqueeze(1)  # (N, 1)
    rank = (sims > own).sum(dim=1)  # how many keys beat the right one; ties count for the query
    return {k: (rank < k).float().mean().item() for k in ks}


@torch.no_grad()
def retrieval_metrics(
    task: BindTask, batches: Iterable[Mapping[str, torch.Tensor]]
) -> dict[str, float]:
    """R@1 and R@5 both ways between the anchor and every other modality of the batches.

    Returns:
        e.g. {"audio->text/R@1": 0.42, "text->audio/R@5": 0.8, ..., "mean_R@1": 0.4}.
    """
    was_training = task.training
    task.eval()
    parts: dict[str, list[torch.Tensor]] = {}
    for batch in batches:
        for m, e in task.embed(batch).items():
            parts.setdefault(m, []).append(e)
    task.train(was_training)
    emb = {m: torch.cat(v) for m, v in parts.items()}
    out: dict[str, float] = {}
    r1 = []
    a = task.anchor
    for m in emb:
        if m == a:
            continue
        for q, k in ((m, a), (a, m)):
            rec = recall_at_k(emb[q], emb[k])
            out[f"{q}->{k}/R@1"] = rec[1]
            out[f"{q}->{k}/R@5"] = rec[5]
            r1.append(rec[1])
    out["mean_R@1"] = sum(r1) / max(1, len(r1))
    return out
