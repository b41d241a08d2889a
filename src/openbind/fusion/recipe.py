"""`openbind fuse train recipe.yaml`: train a bond's projectors from unimodal data and save the
fused space.

    name: starter_speaker.v1          # the fused space's model_id
    base: starter                     # registry name (or a fused folder)
    experts: {speaker: resemblyzer_speaker.v1}
    bond: {kind: combination, experts: [speaker], factors: {audio: 0.5}}
    data:                             # unimodal collections, per modality
      audio: [{manifest: data/sounds/manifest.csv, column: audio}]
      text: [{manifest: data/sounds/manifest.csv, column: text}, {items: ["a dog barking"]}]
    pseudo: {temperature: 0.02, top_k: 32}
    train: {modes: [mix, audio], epochs: 40, temperature: 0.05}
    out: runs/starter_speaker

Every collection is encoded once by every component space that accepts its modality (cached in
`out/cache`), pseudo tuples are built by soft retrieval (`fusion.pseudo`), each expert's
projector mixture is trained (`fusion.training`, checkpoints in `out/train/<expert>`, resumed
after an interruption), and the fused space is saved to `out/fused`.
"""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from openbind.config import from_dict, to_dict
from openbind.errors import ConfigError
from openbind.fusion.bonds import Bond, resolve_factors
from openbind.fusion.cache import EmbeddingCache
from openbind.fusion.fused import FusedSpace
from openbind.fusion.pseudo import build_tuples
from openbind.fusion.training import ProjectorTraining, fit_mixture, split_sides
from openbind.space.protocol import Space
from openbind.types import Modality


@dataclass(frozen=True)
class Source:
    """One unimodal collection: a CSV manifest column (paths relative to the manifest), a glob
    of files, or literal items (texts)."""

    manifest: str = ""
    column: str = ""
    glob: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class BondSpec:
    """The bond to train: kind, experts (several = parallel), factors or a preset name, weights."""

    kind: str = "combination"
    experts: tuple[str, ...] = ()
    factors: dict[str, float] = field(default_factory=dict)
    preset: str = ""
    weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PseudoConfig:
    """Soft retrieval of pseudo tuples: temperature, top-k, and the centre modalities (default:
    every modality with data)."""

    temperature: float = 0.02
    top_k: int = 32
    centres: tuple[str, ...] = ()


@dataclass(frozen=True)
class FuseRecipe:
    """A fusion training recipe (see the module docstring)."""

    name: str = ""
    base: str = "starter"
    experts: dict[str, str] = field(default_factory=dict)
    bond: BondSpec = field(default_factory=BondSpec)
    data: dict[str, tuple[Source, ...]] = field(default_factory=dict)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)
    train: ProjectorTraining = field(default_factory=ProjectorTraining)
    out: str = "runs/fuse"


def load_fuse_recipe(path: str | Path, overrides: list[str] = ()) -> FuseRecipe:  # type: ignore[assignment]
    """Read a YAML recipe and apply dotted `key=value` overrides.

    Raises:
        ConfigError: unreadable YAML, unknown keys, wrong types, or an override without `=`.
    """
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read recipe {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {path} must be a mapping, got {type(data).__name__}")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        node = data
        *parents, last = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(raw) if raw.strip() else ""
    recipe = from_dict(FuseRecipe, data)
    base = Path(path).parent
    return _relative_to(recipe, base)


def _relative_to(recipe: FuseRecipe, base: Path) -> FuseRecipe:
    def fix(s: Source) -> Source:
        manifest = (
            str(base / s.manifest)
            if s.manifest and not Path(s.manifest).is_absolute()
            else s.manifest
        )
        pattern = str(base / s.glob) if s.glob and not Path(s.glob).is_absolute() else s.glob
        return Source(manifest, s.column, pattern, s.items)

    data = {m: tuple(fix(s) for s in sources) for m, sources in recipe.data.items()}
    out = recipe.out if Path(recipe.out).is_absolute() else str(base / recipe.out)
    return FuseRecipe(
        recipe.name,
        recipe.base,
        recipe.experts,
        recipe.bond,
        data,
        recipe.pseudo,
        recipe.train,
        out,
    )


def read_items(source: Source) -> list[Any]:
    """The items of one collection.

    Raises:
        ConfigError: the manifest or column is missing, or the collection is empty.
    """
    items: list[Any] = list(source.items)
    if source.manifest:
        path = Path(source.manifest)
        if not path.is_file():
            raise ConfigError(f"data manifest {path} not found")
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if rows and source.column not in rows[0]:
            raise ConfigError(f"{path} has no column {source.column!r}; it has {sorted(rows[0])}")
        values = [r[source.column] for r in rows]
        is_file = [(path.parent / v).is_file() for v in values[:5]]
        items += [str(path.parent / v) for v in values] if values and all(is_file) else values
    if source.glob:
        items += sorted(glob.glob(source.glob, recursive=True))
    if not items:
        raise ConfigError(f"data source {source} has no items")
    return items


def collect(recipe: FuseRecipe) -> dict[Modality, list[Any]]:
    """Per modality, the unique items of all its collections, in order."""
    out: dict[Modality, list[Any]] = {}
    for name, sources in recipe.data.items():
        m = Modality.parse(name)
        seen: dict[Any, None] = {}
        for s in sources:
            for item in read_items(s):
                seen.setdefault(item, None)
        out[m] = list(seen)
    return out


def run_fuse(
    recipe: FuseRecipe,
    *,
    spaces: Mapping[str, Space] | None = None,
    loader: Callable[[str], Space] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[FusedSpace, dict[str, Any]]:
    """Train the recipe's bond and save the fused space to `out/fused`.

    Args:
        recipe: the recipe.
        spaces: component spaces already loaded ("base" and expert names).
        loader: how to load the others by name (default `openbind.load`).
        log: progress lines.

    Returns:
        The fused space and a summary (per expert: held-out R@1, pairs/s, tuples).
    """
    given = dict(spaces or {})
    if loader is None:
        from openbind.space.load import load as loader  # type: ignore[no-redef]
    base = given.get("base") or loader(recipe.base)
    bond = recipe.bond
    names = bond.experts or tuple(recipe.experts)
    missing = [e for e in names if e not in recipe.experts and e not in given]
    if missing:
        raise ConfigError(
            f"bond expert {missing[0]!r} is not in recipe.experts {sorted(recipe.experts)}"
        )
    experts = {e: given.get(e) or loader(recipe.experts[e]) for e in names}
    out = Path(recipe.out)
    cache = EmbeddingCache(out / "cache")
    data = collect(recipe)
    centres = [Modality.parse(c) for c in recipe.pseudo.centres] or list(data)
    projectors, summary = {}, {}
    for e, expert in experts.items():
        memory: dict[Modality, dict[str, torch.Tensor]] = {}
        for m, items in data.items():
            sides = {}
            if m in expert.modalities:
                sides["source"] = cache.get(expert, m, items)
            if m in base.modalities:
                sides["target"] = cache.get(base, m, items)
            if sides:
                memory[m] = sides
        tuples = build_tuples(
            memory, centres, tau=recipe.pseudo.temperature, top_k=recipe.pseudo.top_k
        )
        inputs, targets = split_sides(tuples, bond.kind)
        log(
            f"{e}: {len(tuples)} pseudo tuples; inputs {sorted(map(str, inputs))} -> targets {sorted(map(str, targets))}"
        )
        mix, report = fit_mixture(inputs, targets, tuples, recipe.train, out / "train" / e, log)
        projectors[e] = mix
        summary[e] = {
            "tuples": len(tuples),
            "heldout_r1": report.best_r1,
            "best_epoch": report.best_epoch,
            "pairs_per_s": report.pairs_per_s,
        }
    shared = {m for e in experts.values() for m in e.modalities if m in base.modalities}
    preset = resolve_factors(bond.preset, "bond") if bond.preset else {}
    factors = {m: f for m, f in preset.items() if m in shared}  # a preset names text and audio
    factors.update(resolve_factors(bond.factors, "bond"))
    b = Bond(bond.kind, names, projectors, factors, dict(bond.weights))  # type: ignore[arg-type]
    sources = {
        "base": recipe.base,
        **{e: recipe.experts.get(e, experts[e].model_id) for e in names},
    }
    fused = FusedSpace(base, experts, [b], name=recipe.name, sources=sources)
    fused.save(out / "fused")
    summary["encoded_items"] = cache.encoded
    (out / "summary.json").write_text(
        json.dumps({"recipe": to_dict(recipe), "summary": summary}, indent=1, default=str)
    )
    log(f"saved {out / 'fused'}")
    return fused, summary
