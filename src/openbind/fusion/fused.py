"""`FusedSpace`: a unified space with expert spaces bonded onto it, itself an `openbind.Space`.

    >>> fused = FusedSpace(base, {"speaker": speaker_space}, [combination("speaker", proj)])
    >>> fused.encode("audio", ["a.wav"])            # Embeddings in the base space (384-d)

Encoding one modality runs every component space that has it once over the items (the base and
each expert), then applies the bonds in order (`openbind.fusion.bonds`). Only the `Space`
protocol of the components is used, so any space (a `SpaceModel`, another `FusedSpace`) can be a
component.

On disk a fused space is a folder:

* `fused.json`: format tag, name, the component spaces (`{"base": source, "experts": {name:
  source}}`, where a source is a registry name or a folder relative to this one), the bonds
  (kind, experts, factors, weights, head names and widths);
* `projectors.safetensors`: every projector head, keys `bonds.<i>.<expert>.heads.<j>.<param>`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from openbind.api import FUSED_MARKER
from openbind.errors import (
    CheckpointMismatch,
    ConfigError,
    MissingModality,
    OpenbindError,
    SpaceMismatch,
    UnknownModel,
    WeightsError,
)
from openbind.fusion.bonds import Bond, resolve_factors
from openbind.fusion.projector import MixtureOfProjectors, Projector
from openbind.space.protocol import EncodeReport, ItemError, Space, pick, split_call
from openbind.types import Embeddings, Modality

FORMAT = "openbind.fused/1"
MANIFEST = FUSED_MARKER
WEIGHTS = "projectors.safetensors"
BASE = "base"


class MissingComponentSpace(UnknownModel):
    """A saved fused space names a component space that cannot be loaded.

    Attributes:
        component: the component's key in the fused space ("base" or an expert name).
        source: the registry name or folder it was saved with.
    """

    def __init__(self, message: str, *, component: str, source: str) -> None:
        super().__init__(message)
        self.component, self.source = component, source


class FusedSpace:
    """A base space with expert spaces bonded onto it by FreeBind bonds.

    Args:
        base: the unified space the chain starts from.
        experts: the expert spaces by the names the bonds use.
        bonds: the bonds, applied in order (a sequential chain; one bond may hold several
            parallel experts).
        name: the fused space's `model_id` (default `base+expert+...`).
        sources: how to load each component again (`"base"` and expert names -> registry name or
            folder); default each component's `model_id`.

    Raises:
        ConfigError: a bond names an expert that is not given, an expert is in no bond, or a
            factor is given for a modality its bond does not mix (the message names it).
        SpaceMismatch: an expert shares no modality with the space it is bonded to, or a
            projector's widths do not fit the spaces it joins (names the space and widths).
    """

    def __init__(
        self,
        base: Space,
        experts: Mapping[str, Space],
        bonds: Sequence[Bond],
        *,
        name: str = "",
        sources: Mapping[str, str] | None = None,
    ) -> None:
        if not bonds:
            raise ConfigError("a fused space needs at least one bond")
        self.base = base
        self.experts = dict(experts)
        self.bonds = list(bonds)
        if BASE in self.experts:
            raise ConfigError(f"{BASE!r} is reserved for the base space; rename that expert")
        self.dim, self._modalities, self._home = self._check_chain()
        self.model_id = name or "+".join([base.model_id, *self.experts])
        self.sources = {BASE: base.model_id, **{k: s.model_id for k, s in self.experts.items()}}
        self.sources.update(sources or {})
        for bond in self.bonds:
            for p in bond.projectors.values():
                p.eval()

    # -- what the space has --------------------------------------------------------------------

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return self._modalities

    def logit_scale(self, modality: Modality | str) -> float:
        """The logit scale of the space whose coordinates the output lives in (1.0 if none).

        That is the base space, or the expert of the last displacement bond.
        """
        m = Modality.parse(modality)
        home = self.base if self._home == BASE else self.experts[self._home]
        if m in home.modalities:
            return float(home.logit_scale(m))
        return 1.0

    def components(self, modality: Modality | str) -> list[str]:
        """The component spaces ("base", expert names) that encode `modality`, in chain order."""
        m = Modality.parse(modality)
        names = [BASE] if m in self.base.modalities else []
        return names + [e for e, s in self.experts.items() if m in s.modalities]

    # -- encoding --------------------------------------------------------------------------------

    def encode(
        self,
        inputs: Any,
        items: Any = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> dict[Modality, Embeddings] | Embeddings:
        """`{modality: items}` -> `{Modality: Embeddings}`; `(modality, items)` -> `Embeddings`.

        Raises:
            BadInput: an item cannot be embedded by a component (its `index` and `reason`).
            MissingModality: neither the base nor an expert has the modality.
        """
        requests, single = split_call(inputs, items)
        out = {}
        for m, xs in requests.items():
            vectors = self.component_vectors(m, xs, batch_size=batch_size, progress=progress)
            out[m] = self.fuse(m, vectors)
        return pick(out, single)

    def encode_report(
        self,
        inputs: Any,
        items: Any = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> dict[Modality, EncodeReport] | EncodeReport:
        """Like `encode`, but items any component refuses are skipped and reported."""
        requests, single = split_call(inputs, items)
        out = {}
        for m, xs in requests.items():
            names = self._need(m)
            reports = {
                n: self._space(n).encode_report(m, xs, batch_size=batch_size, progress=progress)
                for n in _unique(names, self._space)
            }
            reports = {n: reports[_first_same(n, names, self._space)] for n in names}
            kept = sorted(set.intersection(*(set(r.kept) for r in reports.values())))
            errors: dict[int, ItemError] = {}
            for r in reports.values():
                for e in r.errors:
                    errors.setdefault(e.index, e)
            vectors = {}
            for n, r in reports.items():
                row = {index: k for k, index in enumerate(r.kept)}
                vectors[n] = r.embeddings.vectors[[row[i] for i in kept]]
            emb = self.fuse(m, vectors)
            out[m] = EncodeReport(emb, kept, [errors[i] for i in sorted(errors)])
        return pick(out, single)

    @torch.inference_mode()
    def features(
        self, inputs: Any, items: Any = None, *, batch_size: int | None = None
    ) -> dict[Modality, torch.Tensor] | torch.Tensor:
        """The fused vectors before the final renormalisation, (N, D) float32."""
        requests, single = split_call(inputs, items)
        out = {
            m: self.fuse_raw(m, self.component_vectors(m, xs, batch_size=batch_size))
            for m, xs in requests.items()
        }
        return pick(out, single)

    def component_vectors(
        self,
        modality: Modality | str,
        items: Any,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> dict[str, torch.Tensor]:
        """Each needed component's unit embeddings of `items` (each space runs once).

        Keep them to re-fuse with other factors (`fuse(..., factors=...)`) without encoding again.
        """
        m = Modality.parse(modality)
        names = self._need(m)
        done: dict[str, torch.Tensor] = {}
        for n in _unique(names, self._space):
            emb = self._space(n).encode(m, items, batch_size=batch_size, progress=progress)
            done[n] = emb.vectors
        return {n: done[_first_same(n, names, self._space)] for n in names}

    def fuse(
        self,
        modality: Modality | str,
        vectors: Mapping[str, torch.Tensor],
        factors: Sequence[Mapping[Modality | str, float] | str | None] | None = None,
    ) -> Embeddings:
        """Embeddings from component vectors (see `component_vectors`).

        Args:
            modality: what the vectors embed.
            vectors: per component ("base", expert names), (N, D_component) unit vectors.
            factors: per bond, factors (or a preset name) replacing the bond's own, or None.
        """
        m = Modality.parse(modality)
        raw = self.fuse_raw(m, vectors, factors)
        return Embeddings(F.normalize(raw, dim=-1), m, self.model_id)

    @torch.inference_mode()
    def fuse_raw(
        self,
        modality: Modality | str,
        vectors: Mapping[str, torch.Tensor],
        factors: Sequence[Mapping[Modality | str, float] | str | None] | None = None,
    ) -> torch.Tensor:
        """The chain's output before the final renormalisation."""
        m = Modality.parse(modality)
        if factors is not None and len(factors) != len(self.bonds):
            raise ConfigError(
                f"give one factor set per bond ({len(self.bonds)}), got {len(factors)}"
            )
        overrides = [
            None if f is None else resolve_factors(f, f"bond {b.name}")
            for f, b in zip(factors or [None] * len(self.bonds), self.bonds, strict=True)
        ]
        z = vectors.get(BASE)
        z = None if z is None else z.float()
        for k, (bond, override) in enumerate(zip(self.bonds, overrides, strict=True)):
            experts = {e: vectors[e].float() for e in bond.experts if e in vectors}
            if z is not None and k > 0:
                z = F.normalize(z, dim=-1)
            z = bond.apply(m, z, experts, override)
        if z is None:
            raise MissingModality(
                f"{self.model_id} cannot embed {m.value}; it has: {_names(self.modalities)}"
            )
        return z

    def with_factors(
        self, factors: str | Mapping[Modality | str, float], bond: int | str = -1
    ) -> FusedSpace:
        """The same components and projectors with one bond's factors replaced.

        A preset name sets only the modalities the bond's experts have (a preset names text and
        audio; a speaker expert mixes audio alone); an explicit mapping is taken as given.
        """
        index = self._bond_index(bond)
        bonds = list(self.bonds)
        if isinstance(factors, str):
            own = {m for e in bonds[index].experts for m in self.experts[e].modalities}
            preset = resolve_factors(factors, f"bond {bonds[index].name}")
            factors = {m: f for m, f in preset.items() if m in own}
        bonds[index] = bonds[index].with_factors(factors)
        return FusedSpace(self.base, self.experts, bonds, name=self.model_id, sources=self.sources)

    def to(
        self, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
    ) -> FusedSpace:
        """Move the components that can move (their embeddings come back on the CPU, where the
        small projectors run); returns self."""
        for space in (self.base, *self.experts.values()):
            move = getattr(space, "to", None)
            if callable(move):
                move(device=device, dtype=dtype) if dtype is not None else move(device=device)
        return self

    def eval(self) -> FusedSpace:
        """Projectors always run in eval mode; here for `openbind.load`'s `.to(...).eval()`."""
        return self

    # -- saving ----------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write `fused.json` and `projectors.safetensors` into `folder` (created)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        bonds = []
        for i, bond in enumerate(self.bonds):
            heads = {}
            for e, mix in bond.projectors.items():
                heads[e] = {
                    "names": mix.names,
                    "d_in": mix.d_in,
                    "d_out": mix.d_out,
                    "hidden": mix.hidden,
                }
                for k, v in mix.state_dict().items():
                    tensors[f"bonds.{i}.{e}.{k}"] = v.detach().cpu().contiguous()
            bonds.append(
                {
                    "name": bond.name,
                    "kind": bond.kind,
                    "experts": list(bond.experts),
                    "factors": {m.value: f for m, f in bond.factors.items()},
                    "weights": dict(bond.weights),
                    "projectors": heads,
                }
            )
        manifest = {
            "format": FORMAT,
            "name": self.model_id,
            "dim": self.dim,
            "modalities": [m.value for m in self.modalities],
            "components": {
                "base": self.sources[BASE],
                "experts": {e: self.sources[e] for e in self.experts},
            },
            "bonds": bonds,
        }
        save_file(tensors, str(folder / WEIGHTS))
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return folder

    # -- internals -------------------------------------------------------------------------------

    def _space(self, name: str) -> Space:
        return self.base if name == BASE else self.experts[name]

    def _need(self, m: Modality) -> list[str]:
        names = self.components(m)
        if not names:
            raise MissingModality(
                f"{self.model_id} has no {m.value} encoder; it has: {_names(self.modalities)}"
            )
        return names

    def _bond_index(self, bond: int | str) -> int:
        if isinstance(bond, int):
            if not -len(self.bonds) <= bond < len(self.bonds):
                raise ConfigError(f"{self.model_id} has {len(self.bonds)} bond(s), no bond {bond}")
            return bond % len(self.bonds)
        for i, b in enumerate(self.bonds):
            if b.name == bond:
                return i
        raise ConfigError(
            f"{self.model_id} has no bond {bond!r}; bonds: {[b.name for b in self.bonds]}"
        )

    def _check_chain(self) -> tuple[int, tuple[Modality, ...], str]:
        used = {e for b in self.bonds for e in b.experts}
        for bond in self.bonds:
            for e in bond.experts:
                if e not in self.experts:
                    raise ConfigError(
                        f"bond {bond.name}: expert space {e!r} is not given; given: {sorted(self.experts)}"
                    )
        unused = sorted(set(self.experts) - used)
        if unused:
            raise ConfigError(f"expert space {unused[0]!r} is in no bond")
        dim, mods, home = self.base.dim, set(self.base.modalities), BASE
        for bond in self.bonds:
            here = self.base if home == BASE else self.experts[home]
            mixed: set[Modality] = set()
            for e in bond.experts:
                space, proj = self.experts[e], bond.projectors[e]
                shared = mods & set(space.modalities)
                if not shared:
                    raise SpaceMismatch(
                        f"bond {bond.name}: expert {e!r} ({space.model_id}: {_names(space.modalities)}) "
                        f"shares no modality with {here.model_id} ({_names(mods)})"
                    )
                mixed |= shared
                d_in, d_out = (space.dim, dim) if bond.kind == "combination" else (dim, space.dim)
                if (proj.d_in, proj.d_out) != (d_in, d_out):
                    raise SpaceMismatch(
                        f"bond {bond.name}: projector of expert {e!r} maps {proj.d_in} -> "
                        f"{proj.d_out}, but {bond.kind} needs {d_in} -> {d_out} "
                        f"({space.model_id} is {space.dim}-d, {here.model_id} is {dim}-d)"
                    )
            stray = sorted(m.value for m in set(bond.factors) - mixed)
            if stray:
                raise ConfigError(
                    f"bond {bond.name}: factor for {stray[0]}, which it does not mix "
                    f"(shared modalities: {_names(mixed)})"
                )
            for e in bond.experts:
                mods |= set(self.experts[e].modalities)
            if bond.kind == "displacement":
                home = bond.experts[0]
                dim = self.experts[home].dim
        order = [m for m in Modality if m in mods]
        return dim, tuple(order), home


def load_fused(
    folder: str | Path,
    spaces: Mapping[str, Space] | None = None,
    *,
    loader: Callable[[str], Space] | None = None,
) -> FusedSpace:
    """Load a fused space saved by `FusedSpace.save`.

    Args:
        folder: the saved folder.
        spaces: component spaces already in memory, by component key ("base", expert name) or by
            their saved source name; the others are loaded with `loader`.
        loader: how to load a component by its source (default `openbind.load`; a folder
            holding `fused.json` loads as a fused space).

    Raises:
        MissingComponentSpace: a component cannot be loaded (names it and its source).
        ConfigError: `folder` is not a fused space or its manifest is malformed.
        CheckpointMismatch: the projector weights do not match the manifest (names the key).
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ConfigError(f"{folder} is not a fused space (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{manifest_path} is not valid JSON: {e}") from None
    if manifest.get("format") != FORMAT:
        raise ConfigError(
            f"{manifest_path}: format {manifest.get('format')!r}, expected {FORMAT!r}"
        )
    given = dict(spaces or {})
    sources = {BASE: manifest["components"]["base"], **manifest["components"]["experts"]}
    loaded = {k: _component(k, src, folder, given, loader) for k, src in sources.items()}
    if not (folder / WEIGHTS).is_file():
        raise WeightsError(f"{folder} has no {WEIGHTS}")
    tensors = load_file(str(folder / WEIGHTS))
    bonds = []
    for i, spec in enumerate(manifest["bonds"]):
        projectors = {}
        for e, h in spec["projectors"].items():
            mix = MixtureOfProjectors(
                [Projector(h["d_in"], h["d_out"], h["hidden"]) for _ in h["names"]], h["names"]
            )
            prefix = f"bonds.{i}.{e}."
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            expected = mix.state_dict()
            for k in expected:
                if k not in state:
                    raise CheckpointMismatch(f"{folder / WEIGHTS}: missing key {prefix + k!r}")
                if state[k].shape != expected[k].shape:
                    raise CheckpointMismatch(
                        f"{folder / WEIGHTS}: key {prefix + k!r} has shape {tuple(state[k].shape)}, "
                        f"expected {tuple(expected[k].shape)}"
                    )
            extra = sorted(set(state) - set(expected))
            if extra:
                raise CheckpointMismatch(
                    f"{folder / WEIGHTS}: unexpected key {prefix + extra[0]!r}"
                )
            mix.load_state_dict(state)
            projectors[e] = mix.eval()
        bonds.append(
            Bond(
                spec["kind"],
                tuple(spec["experts"]),
                projectors,
                spec.get("factors", {}),
                spec.get("weights", {}),
                spec.get("name", ""),
            )
        )
    experts = {k: v for k, v in loaded.items() if k != BASE}
    return FusedSpace(loaded[BASE], experts, bonds, name=manifest.get("name", ""), sources=sources)


def _component(key: str, source: str, folder: Path, given: Mapping[str, Space], loader) -> Space:
    if key in given:
        return given[key]
    if source in given:
        return given[source]
    local = folder / source
    try:
        if local.is_dir() and (local / MANIFEST).is_file():
            return load_fused(local, given, loader=loader)
        if loader is not None:
            return loader(source)
        from openbind.space.load import load

        return load(source)
    except OpenbindError as e:
        raise MissingComponentSpace(
            f"fused space {folder}: component {key!r} ({source}) cannot be loaded: {e}",
            component=key,
            source=source,
        ) from e


def _unique(names: list[str], space: Callable[[str], Space]) -> list[str]:
    """One name per distinct space object (a space used twice runs once)."""
    seen: dict[int, str] = {}
    for n in names:
        seen.setdefault(id(space(n)), n)
    return list(seen.values())


def _first_same(name: str, names: list[str], space: Callable[[str], Space]) -> str:
    target = id(space(name))
    return next(n for n in names if id(space(n)) == target)


def _names(mods) -> str:
    return ", ".join(sorted(m.value for m in mods)) or "none"
