"""`ImageBindModel`: six independent towers into one space, with the official checkpoint layout.

Girdhar et al., 2023, "ImageBind: One Embedding Space To Bind Them All" (CVPR). Each tower is
preprocessor -> transformer trunk -> head -> postprocessor; the four stages live in the
`modality_preprocessors`, `modality_trunks`, `modality_heads` and `modality_postprocessors`
dicts keyed by the reference's modality names, so `state_dict()` has exactly the keys of
`imagebind_huge.pth`. Any subset of the towers can be built; `towers()` exposes them to
`openbind.space.SpaceModel` as `Tower`s keyed by openbind `Modality`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from openbind.encoders.imagebind.config import TOWER_NAMES, ImageBindConfig
from openbind.encoders.imagebind.heads import HEADS, postprocessor
from openbind.encoders.imagebind.preprocessors import PREPROCESSORS, Stem
from openbind.errors import MissingModality
from openbind.nn.fast import is_causal_mask, pooled_forward
from openbind.nn.heads import LogitScale, SelectToken
from openbind.nn.transformer import Transformer
from openbind.types import Modality

IMAGEBIND_NAMES: dict[Modality, str] = {
    Modality.IMAGE: "vision",
    Modality.VIDEO: "vision",
    Modality.TEXT: "text",
    Modality.AUDIO: "audio",
    Modality.DEPTH: "depth",
    Modality.THERMAL: "thermal",
    Modality.IMU: "imu",
}
"""openbind modality -> the reference's name of its tower (images and video share `vision`)."""

STAGES = ("modality_preprocessors", "modality_trunks", "modality_heads", "modality_postprocessors")

# Structural differences between the trunks (not configurable in the reference either).
_TRUNK_OPTIONS: dict[str, dict[str, bool]] = {
    "vision": {"pre_norm": True, "add_bias_kv": False},
    "text": {"pre_norm": False, "add_bias_kv": False},
    "audio": {"pre_norm": False, "add_bias_kv": True},
    "depth": {"pre_norm": False, "add_bias_kv": True},
    "thermal": {"pre_norm": False, "add_bias_kv": True},
    "imu": {"pre_norm": False, "add_bias_kv": True},
}


def imagebind_name(modality: Modality | str) -> str:
    """The reference tower name ("vision", ...) of an openbind modality or a reference name."""
    if isinstance(modality, str) and modality in TOWER_NAMES:
        return modality
    return IMAGEBIND_NAMES[Modality.parse(modality)]


def imagebind_key_prefixes(modality: Modality | str) -> tuple[str, ...]:
    """State-dict key prefixes of one tower, e.g. to split the official checkpoint per tower.

    Args:
        modality: an openbind modality ("image" and "video" give the vision tower) or a
            reference name ("vision", "text", "audio", "depth", "thermal", "imu").
    """
    name = imagebind_name(modality)
    return tuple(f"{stage}.{name}." for stage in STAGES)


def run_tower(pre: nn.Module, trunk: nn.Module, head: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Preprocessor -> trunk -> head: (N, *clip_shape) -> (N, out_dim), before normalisation."""
    stem: Stem = pre(x)
    return head(trunk(stem.tokens, stem.attn_mask), **stem.head_kwargs)


def run_tower_fast(
    pre: nn.Module, trunk: nn.Module, head: nn.Module, x: torch.Tensor
) -> torch.Tensor:
    """`run_tower` without the work whose result is never read (inference; `openbind.nn.fast`).

    Text: the causal batch is cut after its longest real text and packed (projections and MLPs
    run on real tokens only), with `is_causal` attention. Every tower: the last block computes
    only the token the head reads (cls or end-of-text). Outputs equal `run_tower`'s up to float
    summation order.
    """
    stem: Stem = pre(x)
    kwargs = dict(stem.head_kwargs)
    zeros = torch.zeros(stem.tokens.shape[0], dtype=torch.long, device=stem.tokens.device)
    index = kwargs.get("index")
    rows = index if index is not None else zeros if _reads_first_token(head) else None
    if rows is None:  # a head that reads every token: nothing to skip
        return head(trunk(stem.tokens, stem.attn_mask), **kwargs)
    causal = stem.causal and index is not None and is_causal_mask(stem.attn_mask)
    lengths = index + 1 if causal else None  # tokens after the end-of-text are never seen
    h = pooled_forward(trunk, stem.tokens, rows, attn_mask=stem.attn_mask, causal_lengths=lengths)
    if index is not None:
        kwargs["index"] = zeros  # the trunk returned only the read token, (B, 1, D)
    return head(h, **kwargs)


def _reads_first_token(head: nn.Module) -> bool:
    """Whether `head` is token-wise modules, then `SelectToken(0)`, then anything."""
    if not isinstance(head, nn.Sequential):
        return False
    for module in head:
        if isinstance(module, SelectToken):
            return module.index == 0
        if not isinstance(module, nn.LayerNorm):
            return False
    return False


def _clip_tokens(pre: nn.Module) -> int:
    """Tokens per clip of a preprocessor (its position table's length; text: its context)."""
    helper = getattr(pre, "pos_embedding_helper", None)
    table = helper.pos_embed if helper is not None else getattr(pre, "pos_embed", None)
    return int(table.shape[1]) if table is not None else 1


class ImageBindModel(nn.Module):
    """ImageBind towers with the official state-dict layout.

    Args:
        config: sizes of the towers (default: `imagebind_huge`).
        modalities: reference names of the towers to build (default: all six).

    Example:
        >>> with torch.device("meta"):
        ...     model = ImageBindModel(ImageBindConfig.huge(), modalities=["text", "audio"])
        >>> model.load_state_dict(state, assign=True)
        >>> model.forward_reference({"text": ids, "audio": mels})  # the reference's outputs
    """

    def __init__(
        self, config: ImageBindConfig | None = None, modalities: Iterable[str] | None = None
    ) -> None:
        super().__init__()
        self.config = config = config or ImageBindConfig()
        wanted = set(TOWER_NAMES if modalities is None else modalities)
        unknown = sorted(wanted - set(TOWER_NAMES))
        if unknown:
            raise MissingModality(
                f"ImageBind has no {unknown} tower; it has: {', '.join(TOWER_NAMES)}"
            )
        names = [n for n in TOWER_NAMES if n in wanted]
        self.modality_preprocessors = nn.ModuleDict(
            {n: PREPROCESSORS[n](config.tower(n)) for n in names}
        )
        self.modality_trunks = nn.ModuleDict(
            {
                n: Transformer(
                    config.tower(n).width,
                    config.tower(n).blocks,
                    config.tower(n).heads,
                    drop_path=config.tower(n).drop_path,
                    **_TRUNK_OPTIONS[n],
                )
                for n in names
            }
        )
        self.modality_heads = nn.ModuleDict(
            {n: HEADS[n](config.tower(n), config.out_dim) for n in names}
        )
        self.modality_postprocessors = nn.ModuleDict({n: postprocessor(n) for n in names})
        self._init_trunks()

    @property
    def modalities(self) -> tuple[str, ...]:
        """Reference names of the towers this model has."""
        return tuple(self.modality_trunks)

    def _init_trunks(self) -> None:
        # The reference's "jax" init of the trunks: Linear xavier-uniform / zero bias, LN 1 / 0.
        for module in self.modality_trunks.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _check(self, name: str) -> None:
        if name not in self.modality_trunks:
            raise MissingModality(
                f"this ImageBind model has no {name!r} tower; it has: {', '.join(self.modalities)}"
            )

    def embed_clips(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Head output of the tower `name` for single clips (N, *clip_shape) -> (N, out_dim)."""
        self._check(name)
        return run_tower(
            self.modality_preprocessors[name],
            self.modality_trunks[name],
            self.modality_heads[name],
            x,
        )

    def forward_reference(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Exactly what the reference `ImageBindModel.forward` returns.

        Per entry: inputs with `ndim >= 5` are (B, S, *clip_shape) multi-clip batches (so a single
        video clip must be passed as (B, 1, 3, T, H, W)); each clip is embedded, L2-normalised and
        multiplied by the modality's logit scale; clips are then averaged **without**
        renormalising, so video norms are < 1 and audio norms < 20.

        Args:
            inputs: reference names ("vision", "text", "audio", "depth", "thermal", "imu") ->
                preprocessed tensors.

        Returns:
            The same names -> (B, out_dim) embeddings.

        Raises:
            MissingModality: a name this model has no tower for.
            BadInput: a tensor of the wrong shape (the message gives expected and actual shape).
        """
        out: dict[str, torch.Tensor] = {}
        for name, x in inputs.items():
            self._check(name)
            clips = x.ndim >= 5
            if clips:
                b, s = x.shape[:2]
                x = x.flatten(0, 1)  # (B*S, *clip_shape)
            e = self.modality_postprocessors[name](self.embed_clips(name, x))  # (B*S, D)
            out[name] = e.unflatten(0, (b, s)).mean(dim=1) if clips else e  # (B, D)
        return out

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Same as `forward_reference`."""
        return self.forward_reference(inputs)

    def towers(
        self, modalities: Iterable[Modality | str] | None = None
    ) -> dict[Modality, ImageBindTower]:
        """`Tower`s for openbind modalities (default: every modality the built towers serve)."""
        if modalities is None:
            modalities = [m for m, n in IMAGEBIND_NAMES.items() if n in self.modality_trunks]
        return {Modality.parse(m): ImageBindTower(self, m) for m in modalities}


class ImageBindTower(nn.Module):
    """One modality of an `ImageBindModel` as an openbind `Tower` (shares the model's modules).

    `forward` maps single clips (N, *clip_shape) to head outputs (N, out_dim) before
    normalisation: images (N, 3, H, W), video clips (N, 3, T, H, W), token ids (N, 77),
    spectrograms (N, 1, 128, 204), depth/thermal maps (N, 1, 224, 224), IMU (N, 6, 2000).

    Args:
        model: the model holding the tower.
        modality: the openbind modality it serves.

    Raises:
        MissingModality: the model was built without this tower.
    """

    def __init__(self, model: ImageBindModel, modality: Modality | str) -> None:
        super().__init__()
        self.modality = Modality.parse(modality)
        name = IMAGEBIND_NAMES[self.modality]
        model._check(name)
        self.out_dim = model.config.out_dim
        self.preprocessor = model.modality_preprocessors[name]
        self.trunk = model.modality_trunks[name]
        self.head = model.modality_heads[name]
        self.postprocessor = model.modality_postprocessors[name]

    @property
    def logit_scale(self) -> float:
        """The modality's training temperature: text exp(learned) <= 100, audio 20, depth 5,
        thermal 10, IMU 5, vision 1."""
        scales = [m.scale for m in self.postprocessor.modules() if isinstance(m, LogitScale)]
        return float(scales[0].detach()) if scales else 1.0

    def example_input(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        """A (batch, *clip_shape) input of this tower (token ids for text, else random clips),
        e.g. for tracing or export."""
        pre = self.preprocessor
        if self.modality is Modality.TEXT:
            ids = torch.zeros(batch, pre.context_length, dtype=torch.long)
            ids[:, 0], ids[:, 1], ids[:, 2] = 49406, 320, 49407  # "<start> a <end>"
            return ids
        if self.modality is Modality.IMU:
            shape = pre.shape
        elif self.modality is Modality.IMAGE:
            shape = (pre.clip_shape[0], *pre.clip_shape[2:])  # (3, S, S)
        else:
            shape = pre.clip_shape
        return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))

    fast: bool = True
    """Use `run_tower_fast` when the trunk is in eval mode (same outputs, less work); False
    always runs `run_tower`."""

    max_tokens_per_pass: int = 16384
    """Clips per forward pass are capped so that a pass holds at most this many tokens (huge
    vision: 63 clips of 257 tokens, ~4 videos of 15 clip-crops; the MLP activations of a pass
    are then ~320 MiB). All the clips of a batch up to that run in one pass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        run = run_tower_fast if self.fast and not self.trunk.training else run_tower
        per_pass = max(1, self.max_tokens_per_pass // _clip_tokens(self.preprocessor))
        if x.shape[0] <= per_pass:
            return run(self.preprocessor, self.trunk, self.head, x)
        chunks = x.split(per_pass)  # (<= per_pass, *clip_shape) each
        return torch.cat([run(self.preprocessor, self.trunk, self.head, c) for c in chunks])


__all__ = [
    "IMAGEBIND_NAMES",
    "ImageBindModel",
    "ImageBindTower",
    "imagebind_key_prefixes",
    "imagebind_name",
]
