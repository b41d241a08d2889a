"""FreeBind projectors (Wang et al., "FreeBind", ICML 2024, section 3; `models/projector.py`).

One head maps one source space into one target space and is shared by every modality of the
source space:

    Linear(d_in -> hidden) -> BatchNorm1d -> ReLU -> Linear(hidden -> d_out) -> BatchNorm1d -> L2

Weights are Xavier-uniform (biases and batch norms default). A mixture of projectors is several
such heads trained on different pseudo-data modes; their unit outputs are averaged and
renormalised. Heads always run in `eval()` at inference (batch-norm running statistics), so one
item at a time gives the same vector as a batch.

FreeBind's released `best.pt` files hold one head as `Head2.mlps.{0,1,3,4}.*` (Linear, BN, ReLU
without parameters, Linear, BN); `import_freebind_head` maps that layout onto ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from openbind.errors import CheckpointMismatch, SpaceMismatch

FREEBIND_MODES = ("mix", "A", "T", "V", "AT", "AV", "TV")
"""Pseudo-data modes of FreeBind's 7-way mixture (folder names of its released projectors)."""

_LAYERS = {"0": "fc1", "1": "bn1", "3": "fc2", "4": "bn2"}
_LINEAR = ("weight", "bias")
_BATCHNORM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class Projector(nn.Module):
    """The FreeBind projector head: `(N, d_in)` -> `(N, d_out)` unit vectors.

    Args:
        d_in: width of the source space.
        d_out: width of the target space.
        hidden: width of the hidden layer (FreeBind: 2048).
    """

    def __init__(self, d_in: int, d_out: int, hidden: int = 2048) -> None:
        super().__init__()
        self.d_in, self.d_out, self.hidden = d_in, d_out, hidden
        self.fc1 = nn.Linear(d_in, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, d_out)
        self.bn2 = nn.BatchNorm1d(d_out)
        for p in self.parameters():
            if p.ndim >= 2:
                nn.init.xavier_uniform_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise SpaceMismatch(f"projector expects (N, {self.d_in}) inputs, got {tuple(x.shape)}")
        h = F.relu(self.bn1(self.fc1(x)))  # (N, hidden)
        return F.normalize(self.bn2(self.fc2(h)), dim=-1)  # (N, d_out)


class MixtureOfProjectors(nn.Module):
    """Several projector heads of one source -> target map; mean of unit outputs, renormalised.

    Args:
        heads: the heads, all of the same `d_in` and `d_out`.
        names: one name per head (e.g. FreeBind's pseudo-data modes); default "0", "1", ...

    Raises:
        SpaceMismatch: the heads do not share input and output widths.
    """

    def __init__(self, heads: Sequence[Projector], names: Sequence[str] | None = None) -> None:
        super().__init__()
        if not heads:
            raise SpaceMismatch("a mixture of projectors needs at least one head")
        shapes = {(h.d_in, h.d_out) for h in heads}
        if len(shapes) > 1:
            raise SpaceMismatch(f"projector heads disagree on (d_in, d_out): {sorted(shapes)}")
        names = list(names) if names is not None else [str(i) for i in range(len(heads))]
        if len(names) != len(heads) or len(set(names)) != len(names):
            raise SpaceMismatch(f"need one distinct name per head, got {names}")
        self.names = names
        self.heads = nn.ModuleList(heads)
        self.d_in, self.d_out = heads[0].d_in, heads[0].d_out
        self.hidden = heads[0].hidden

    @classmethod
    def create(
        cls, d_in: int, d_out: int, *, heads: int = 1, hidden: int = 2048
    ) -> MixtureOfProjectors:
        """`heads` freshly initialised heads."""
        return cls([Projector(d_in, d_out, hidden) for _ in range(heads)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.unnormalised(x), dim=-1)

    def unnormalised(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the heads' unit outputs before renormalising (parallel bonds average these)."""
        return torch.stack([h(x) for h in self.heads]).mean(0)  # (N, d_out)


def import_freebind_head(
    state: Mapping[str, torch.Tensor], *, source: str = "state dict", hidden: int | None = None
) -> Projector:
    """A `Projector` from one FreeBind `best.pt` state dict (`Head2.mlps.{0,1,3,4}.*`).

    A leading `module.` (DataParallel) is accepted. Widths are read from the weights.

    Raises:
        CheckpointMismatch: a key is missing, unexpected or of the wrong shape; the message names
            the key and `source`.
    """
    clean = {k.removeprefix("module."): v for k, v in state.items()}
    expected = [f"Head2.mlps.{i}.{p}" for i in ("0", "3") for p in _LINEAR]
    expected += [f"Head2.mlps.{i}.{p}" for i in ("1", "4") for p in _BATCHNORM]
    missing = [k for k in expected if k not in clean]
    if missing:
        raise CheckpointMismatch(
            f"{source} is not a FreeBind projector: missing key {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; it has {sorted(clean)[:6]}"
        )
    unexpected = sorted(set(clean) - set(expected))
    if unexpected:
        raise CheckpointMismatch(
            f"{source}: unexpected key {unexpected[0]!r} in a FreeBind projector"
        )
    w1, w2 = clean["Head2.mlps.0.weight"], clean["Head2.mlps.3.weight"]
    if w1.ndim != 2 or w2.ndim != 2:
        raise CheckpointMismatch(f"{source}: key 'Head2.mlps.0.weight' / '.3.weight' must be 2-D")
    width = w1.shape[0] if hidden is None else hidden
    head = Projector(w1.shape[1], w2.shape[0], width)
    ours = {}
    for k, v in clean.items():
        _, _, index, name = k.split(".")
        ours[f"{_LAYERS[index]}.{name}"] = v
    own = head.state_dict()
    for k, v in ours.items():
        if tuple(own[k].shape) != tuple(v.shape):
            theirs = "Head2.mlps." + {b: a for a, b in _LAYERS.items()}[k.split(".")[0]]
            raise CheckpointMismatch(
                f"{source}: key {theirs}.{k.split('.')[1]!r} has shape {tuple(v.shape)}, "
                f"expected {tuple(own[k].shape)}"
            )
    head.load_state_dict(ours, strict=True)
    return head.eval()


def load_freebind_mixture(
    folder: str | Path, modes: Sequence[str] = FREEBIND_MODES
) -> MixtureOfProjectors:
    """A released FreeBind projector set: `folder/<mode>/best.pt` for each mode.

    Raises:
        MissingWeights: a mode's file is absent.
        CheckpointMismatch: a file has the wrong layout (the key is named).
    """
    from openbind.errors import MissingWeights

    heads = []
    for mode in modes:
        path = Path(folder) / mode / "best.pt"
        if not path.is_file():
            raise MissingWeights(f"FreeBind projector {path} not found (mode {mode!r})")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, Mapping) and "state_dict" in state:
            state = state["state_dict"]
        heads.append(import_freebind_head(state, source=str(path)))
    return MixtureOfProjectors(heads, list(modes)).eval()


def export_freebind_head(head: Projector) -> dict[str, torch.Tensor]:
    """Our head's weights in FreeBind's key layout (the inverse of `import_freebind_head`)."""
    inverse = {b: a for a, b in _LAYERS.items()}
    return {
        f"Head2.mlps.{inverse[k.split('.')[0]]}.{k.split('.')[1]}": v
        for k, v in head.state_dict().items()
    }
