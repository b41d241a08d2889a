"""Cards of FreeBind's published combinations, as data (`freebind.md` 1.6).

Each card says which spaces to bond and which released projector folders (from the Hugging Face
repository `Viglong/FreeBind`, one folder per bond and expert, each holding `<mode>/best.pt` for
the 7 pseudo-data modes) go where. Users with those weights build the space by name:

    >>> fused = card("freebind_imagebind_pp").build(
    ...     {"base": ob.load("imagebind_huge"), "clap_g": clap_general, "clap_m": clap_music},
    ...     projectors="~/FreeBind/checkpoints")

The expert spaces (LAION-CLAP general / music, InternVL-C) are not in openbind's registry; any
`openbind.Space` of the right width and modalities serves (`encoders.experts` adapts
transformers' `ClapModel` and `CLIPModel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from openbind.errors import UnknownModel

REPOSITORY = "https://huggingface.co/Viglong/FreeBind"


@dataclass(frozen=True)
class BondCard:
    """One bond of a card: kind, experts, the released projector folder of each, factors."""

    kind: str
    experts: tuple[str, ...]
    folders: dict[str, str]
    factors: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FusionCard:
    """A published fused space.

    Attributes:
        name: openbind's name for it.
        paper_name: the name in the FreeBind paper's tables.
        base: what the base space is (registry name).
        experts: per expert key, what space it is (name, width, modalities).
        bonds: the bonds, in order.
        presets: the factor presets the paper reports for it.
        dim: width of the result.
    """

    name: str
    paper_name: str
    base: str
    experts: dict[str, str]
    bonds: tuple[BondCard, ...]
    presets: tuple[str, ...] = ()
    dim: int = 1024

    def build(
        self, spaces: Mapping[str, object], projectors: str | Path, preset: str | None = None
    ):
        """The `FusedSpace`: `spaces` has "base" and every expert key; `projectors` the folder
        holding the released projector folders.

        Raises:
            MissingComponentSpace: a space of the card is not given.
            MissingWeights / CheckpointMismatch: a projector file is absent or of another layout.
        """
        from openbind.fusion.bonds import Bond, resolve_factors
        from openbind.fusion.fused import FusedSpace, MissingComponentSpace
        from openbind.fusion.projector import load_freebind_mixture

        for key in ("base", *self.experts):
            if key not in spaces:
                raise MissingComponentSpace(
                    f"card {self.name}: give the {key!r} space "
                    f"({self.base if key == 'base' else self.experts[key]})",
                    component=key,
                    source=self.base if key == "base" else self.experts[key],
                )
        root = Path(projectors).expanduser()
        bonds = []
        for k, b in enumerate(self.bonds):
            factors = dict(b.factors)
            if preset and k == len(self.bonds) - 1:
                factors.update({m.value: f for m, f in resolve_factors(preset, self.name).items()})
            mixes = {e: load_freebind_mixture(root / b.folders[e]) for e in b.experts}
            bonds.append(Bond(b.kind, b.experts, mixes, factors))  # type: ignore[arg-type]
        experts = {e: spaces[e] for e in self.experts}
        return FusedSpace(spaces["base"], experts, bonds, name=self.name)  # type: ignore[arg-type]


_CLAP = {
    "clap_g": "LAION-CLAP 630k-fusion-best (general), audio+text, 512-d",
    "clap_m": "LAION-CLAP music_speech_audioset_epoch_15_esc_89.98 (HTSAT-base), audio+text, 512-d",
}
_INTERNVL = {"internvl_c": "InternVL-14B-224px in InternVL-C mode, image+text, 768-d"}

CARDS: dict[str, FusionCard] = {
    c.name: c
    for c in (
        FusionCard(
            name="freebind_imagebind_pp",
            paper_name="ImageBind++",
            base="imagebind_huge.official",
            experts=dict(_CLAP),
            bonds=(
                BondCard(
                    "combination",
                    ("clap_g", "clap_m"),
                    {"clap_g": "IB_PP_G_Proj", "clap_m": "IB_PP_M_Proj"},
                    {"audio": 0.5, "text": 0.1},
                ),
            ),
            presets=("versatile", "at_expertise"),
            dim=1024,
        ),
        FusionCard(
            name="freebind_internvl_ib",
            paper_name="InternVL_IB",
            base="imagebind_huge.official",
            experts=dict(_INTERNVL),
            bonds=(
                BondCard(
                    "displacement",
                    ("internvl_c",),
                    {"internvl_c": "InternVL_IB_Proj"},
                    {"image": 0.2, "text": 0.2},
                ),
            ),
            dim=768,
        ),
        FusionCard(
            name="freebind_internvl_ib_pp",
            paper_name="InternVL_IB++",
            base="imagebind_huge.official",
            experts={**_INTERNVL, **_CLAP},
            bonds=(
                BondCard(
                    "displacement",
                    ("internvl_c",),
                    {"internvl_c": "InternVL_IB_Proj"},
                    {"image": 0.2, "text": 0.2},
                ),
                BondCard(
                    "combination",
                    ("clap_g", "clap_m"),
                    {"clap_g": "InternVL_IB_PP_G_Proj", "clap_m": "InternVL_IB_PP_M_Proj"},
                    {"audio": 0.5, "text": 0.1},
                ),
            ),
            presets=("versatile", "at_expertise"),
            dim=768,
        ),
    )
}


def card(name: str) -> FusionCard:
    """The card `name`.

    Raises:
        UnknownModel: no such card; the message lists the cards.
    """
    if name not in CARDS:
        raise UnknownModel(f"unknown fusion card {name!r}; cards: {', '.join(sorted(CARDS))}")
    return CARDS[name]
