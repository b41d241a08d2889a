"""FreeBind space bonds: how expert spaces are mixed into a unified space, per modality.

Notation (FreeBind section 3.2; the reference's `freebind.md` 1.3-1.5). `u_m` is the unified
(current) space's unit embedding of modality m, `e_m` an expert's, `proj` a projector mixture.

* Combination bond `U + c(E)` (expert -> unified; the result stays in the unified space):
  `z_m = normalize(l_m * mean_proj(e_m) + (1 - l_m) * u_m)` for modalities both have; the
  unified space's other modalities are untouched; a modality only the expert has becomes
  `mean_proj(e_m)`. `l_m` is the weight on the projected expert (FreeBind's `text_factor`,
  `audio_factor`; the presets below are values of it).
* Parallel experts in one combination bond: `mean_proj` is the weighted mean of each expert's
  mean head output (equal weights by default, which is FreeBind's mean over all heads when every
  expert has as many heads), renormalised.
* Displacement bond `U + d(E)` (unified -> expert; the result lives in the expert's space):
  `z_m = normalize(f_m * proj(u_m) + (1 - f_m) * e_m)` for shared modalities, `proj(u_m)` for
  the unified space's others, `e_m` for the expert's own others. `f_m` is the weight on the
  projected unified embedding (FreeBind's code default 0.2; the paper's lambda is `1 - f_m`).
* Sequential bonds: a list; each bond's output space is the next bond's unified space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from openbind.errors import ConfigError
from openbind.fusion.presets import PRESETS
from openbind.fusion.projector import MixtureOfProjectors
from openbind.types import Modality

BondKind = Literal["combination", "displacement"]

DEFAULT_FACTORS: dict[str, float] = {"combination": 0.5, "displacement": 0.2}
"""Factor of a shared modality a bond was not given one for: FreeBind's code defaults (`IB_PP`
combination 0.5, `InternVL_IB` displacement 0.2)."""


def check_factors(factors: Mapping[Modality | str, float], where: str) -> dict[Modality, float]:
    """Factors keyed by `Modality`, each a number in [0, 1].

    Raises:
        ConfigError: a factor is outside [0, 1] or not a number; the message names the modality
            and `where` (the bond).
    """
    out: dict[Modality, float] = {}
    for key, value in factors.items():
        m = Modality.parse(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: factor for {m.value} must be a number, got {value!r}")
        if not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"{where}: factor for {m.value} must be in [0, 1], got {value}")
        out[m] = float(value)
    return out


def resolve_factors(
    factors: str | Mapping[Modality | str, float], where: str
) -> dict[Modality, float]:
    """A preset name ("versatile", "at_expertise") or a factor mapping, checked."""
    if isinstance(factors, str):
        key = factors.strip().lower().replace(" ", "_").replace("-", "_")
        if key not in PRESETS:
            raise ConfigError(f"{where}: unknown preset {factors!r}; presets: {sorted(PRESETS)}")
        return dict(PRESETS[key])
    return check_factors(factors, where)


@dataclass
class Bond:
    """One bond of a fused space.

    Attributes:
        kind: "combination" (experts -> current space) or "displacement" (current -> expert).
        experts: names of the expert spaces (several for a parallel combination; one for a
            displacement).
        projectors: one projector mixture per expert (combination: expert dim -> current dim;
            displacement: current dim -> expert dim).
        factors: per modality, the mixing factor (see the module docstring for its meaning).
        weights: per expert, its weight in a parallel combination (default equal).
        name: a label for messages and sweeps (default "<kind>:<experts>").
    """

    kind: BondKind
    experts: tuple[str, ...]
    projectors: dict[str, MixtureOfProjectors]
    factors: dict[Modality, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("combination", "displacement"):
            raise ConfigError(
                f"bond kind must be 'combination' or 'displacement', got {self.kind!r}"
            )
        self.experts = tuple(self.experts)
        if not self.experts:
            raise ConfigError("a bond needs at least one expert space")
        if self.kind == "displacement" and len(self.experts) != 1:
            raise ConfigError(
                f"a displacement bond moves into one expert space, got {list(self.experts)}"
            )
        self.name = self.name or f"{self.kind}:{'+'.join(self.experts)}"
        missing = [e for e in self.experts if e not in self.projectors]
        if missing:
            raise ConfigError(f"bond {self.name}: no projector for expert {missing[0]!r}")
        self.factors = check_factors(self.factors, f"bond {self.name}")
        unknown = sorted(set(self.weights) - set(self.experts))
        if unknown:
            raise ConfigError(f"bond {self.name}: weight for unknown expert {unknown[0]!r}")
        for e, w in self.weights.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
                raise ConfigError(
                    f"bond {self.name}: weight of expert {e!r} must be >= 0, got {w!r}"
                )
        if self.weights and sum(self.weight(e) for e in self.experts) <= 0:
            raise ConfigError(f"bond {self.name}: expert weights sum to 0")

    def weight(self, expert: str) -> float:
        return float(self.weights.get(expert, 1.0))

    def factor(self, m: Modality, override: Mapping[Modality, float] | None = None) -> float:
        if override is not None and m in override:
            return override[m]
        return self.factors.get(m, DEFAULT_FACTORS[self.kind])

    def with_factors(self, factors: str | Mapping[Modality | str, float]) -> Bond:
        """A copy with `factors` replacing those given (a preset name or a mapping)."""
        new = dict(self.factors)
        new.update(resolve_factors(factors, f"bond {self.name}"))
        return Bond(self.kind, self.experts, self.projectors, new, dict(self.weights), self.name)

    def apply(
        self,
        m: Modality,
        current: torch.Tensor | None,
        expert: Mapping[str, torch.Tensor],
        override: Mapping[Modality, float] | None = None,
    ) -> torch.Tensor | None:
        """The bond's output for modality `m`, not yet renormalised.

        Args:
            m: the modality.
            current: (N, D) unit embeddings of the current space, or None if it lacks `m`.
            expert: (N, D_e) unit embeddings of each expert that has `m`.
            override: factors to use instead of the bond's own (sweeps).

        Returns:
            (N, D_out), or None when neither side has `m`.
        """
        if self.kind == "combination":
            return self._combine(m, current, expert, override)
        return self._displace(m, current, expert, override)

    def _combine(self, m, current, expert, override):
        present = [e for e in self.experts if e in expert]
        if not present:
            return current
        total = sum(self.weight(e) for e in present)
        mixed = sum(
            self.weight(e) * self.projectors[e].unnormalised(expert[e]) for e in present
        ) / max(total, 1e-12)
        projected = F.normalize(mixed, dim=-1)  # (N, D)
        if current is None:
            return projected
        lam = self.factor(m, override)
        return lam * projected + (1 - lam) * current

    def _displace(self, m, current, expert, override):
        (name,) = self.experts
        if current is None:
            return expert.get(name)
        projected = self.projectors[name](current)  # (N, D_expert), unit
        if name not in expert:
            return projected
        f = self.factor(m, override)
        return f * projected + (1 - f) * expert[name]


def combination(
    experts: str | Sequence[str],
    projectors: MixtureOfProjectors | Mapping[str, MixtureOfProjectors],
    factors: str | Mapping[Modality | str, float] = "versatile",
    *,
    weights: Mapping[str, float] | None = None,
    name: str = "",
) -> Bond:
    """A combination bond (experts projected into the current space), factors or a preset."""
    names = (experts,) if isinstance(experts, str) else tuple(experts)
    projs = projectors if isinstance(projectors, Mapping) else {names[0]: projectors}
    label = name or f"combination:{'+'.join(names)}"
    return Bond(
        "combination",
        names,
        dict(projs),
        resolve_factors(factors, f"bond {label}"),
        dict(weights or {}),
        name,
    )


def displacement(
    expert: str,
    projector: MixtureOfProjectors,
    factors: Mapping[Modality | str, float] | None = None,
    *,
    name: str = "",
) -> Bond:
    """A displacement bond (the current space projected into `expert`'s space)."""
    return Bond("displacement", (expert,), {expert: projector}, dict(factors or {}), {}, name)
