"""Paired datasets: rows of items of several modalities that belong together.

A row maps modality names to items: a path, bytes, a string (text), an array, or a `Lazy` item
(a frame of a video, a member of a tar shard) resolved when the row is loaded. Transforms turn
each item into model-ready clips (S, *input); the dataset keeps the first clip (1, *input), and
`collate` joins the clips of a batch per modality: concatenated, or with the modality's own
collate (e.g. padding token ids of different lengths).

A text item may be `Descriptions`: several descriptions of one item (LanguageBind's multi-view
text: metadata, spatial, temporal, enhanced captions). Each is transformed once; a training set
(`sample_views=True`) takes one at random per load, a held-out set always the first.

Rows whose files are missing are dropped when the dataset is made (`read_manifest` counts them);
a row whose file turns out to be corrupt when it is loaded is replaced by the next good row, so
every batch stays full (DDP ranks must gather equal shapes), and is counted in `report` and
named in a warning.
"""

from __future__ import annotations

import csv
import json
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import Dataset

from openbind.errors import BadInput
from openbind.preprocess.common import Collate, Transform
from openbind.types import Modality

Row = dict[str, Any]


class Descriptions(tuple):
    """Several texts describing one item; a training step uses one of them (see the module
    docstring). In a JSONL manifest, a text value that is a list of strings."""

    def __new__(cls, texts: Sequence[str]) -> Descriptions:
        texts = [str(t) for t in texts]
        if not texts:
            raise BadInput("an item needs at least one description")
        return super().__new__(cls, texts)


class Lazy(Protocol):
    """An item that is read only when its row is loaded."""

    def load(self) -> Any: ...


@dataclass
class DataReport:
    """What happened to the rows of a source.

    Attributes:
        rows: usable rows.
        missing: rows dropped because a file does not exist.
        corrupt: rows replaced at load time because a file could not be decoded.
        examples: a few `path: reason` lines of dropped rows.
    """

    rows: int = 0
    missing: int = 0
    corrupt: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(line)

    def summary(self) -> str:
        text = f"{self.rows} rows, {self.missing} skipped (missing file), {self.corrupt} skipped (corrupt file)"
        return text + "".join(f"\n  {e}" for e in self.examples)


class PairedDataset(Dataset):
    """Rows -> dicts of model-ready tensors `{modality: (*input)}`.

    Args:
        rows: the items of each row, by modality name.
        transforms: per modality to load, item -> (S, *input) clips; other columns are ignored.
        report: where counts of bad rows go (shared with the manifest reader).
        collates: per modality, how (1, *input) clips become a batch (default: concatenated).
        cache: keep every loaded row in memory (transforms are deterministic, so this is exact;
            it pays off when decoding costs more than a training step, for small sets).
        sample_views: for `Descriptions` items, draw one description per load (seeded by
            `seed`); False always takes the first (deterministic evaluation).
        seed: seed of the description draws.

    Raises:
        BadInput: no rows, or a row lacks one of the transformed modalities.
    """

    def __init__(
        self,
        rows: Sequence[Row],
        transforms: Mapping[Modality | str, Transform],
        report: DataReport | None = None,
        collates: Mapping[Modality | str, Collate] | None = None,
        *,
        cache: bool = False,
        sample_views: bool = False,
        seed: int = 0,
    ) -> None:
        self.sample_views = sample_views
        self._rng = random.Random(seed)
        self.transforms = {Modality.parse(m).value: t for m, t in transforms.items()}
        self.collates = {Modality.parse(m).value: c for m, c in (collates or {}).items()}
        if not rows:
            raise BadInput("the dataset is empty: no usable rows")
        for i, row in enumerate(rows):
            lacking = sorted(set(self.transforms) - set(row))
            if lacking:
                raise BadInput(f"row {i} has no {', '.join(lacking)} column; it has {sorted(row)}")
        self.rows = list(rows)
        self.report = report if report is not None else DataReport(rows=len(rows))
        self.cache: dict[int, dict[str, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        for attempt in range(len(self.rows)):
            i = (index + attempt) % len(self.rows)
            try:
                return self.load(i)
            except BadInput as e:
                self.report.corrupt += 1
                self.report.note(str(e))
                warnings.warn(f"skipping row {i}: {e}", stacklevel=2)
        raise BadInput("no row of the dataset can be loaded")

    def load(self, index: int) -> dict[str, torch.Tensor]:
        """The tensors of row `index` (raises `BadInput` for a bad file)."""
        if self.cache is not None and index in self.cache:
            return self._pick(self.cache[index])
        row = self.rows[index]
        out: dict[str, Any] = {}
        for m, transform in self.transforms.items():
            item = row[m]
            if hasattr(item, "load"):
                item = item.load()
            if isinstance(item, Descriptions):
                out[m] = [transform(text)[:1] for text in item]  # every view, (1, *input) each
            else:
                out[m] = transform(item)[:1]  # first clip: (1, *input)
        if self.cache is not None:
            self.cache[index] = out
        return self._pick(out)

    def _pick(self, loaded: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One description of each multi-view item: drawn when sampling views, else the first."""
        return {
            m: (
                v[self._rng.randrange(len(v)) if self.sample_views else 0]
                if isinstance(v, list)
                else v
            )
            for m, v in loaded.items()
        }

    def collate(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """A batch {modality: (B, *input)} of loaded rows."""
        return {m: self.collates.get(m, torch.cat)([item[m] for item in items]) for m in items[0]}

    def split(self, fraction: float, seed: int = 0) -> tuple[PairedDataset, PairedDataset]:
        """(rest, held-out) with `fraction` of the rows held out, chosen by a seeded permutation."""
        order = torch.randperm(
            len(self.rows), generator=torch.Generator().manual_seed(seed)
        ).tolist()
        n_val = max(1, round(len(order) * fraction))
        if n_val >= len(order):
            raise BadInput(
                f"cannot hold out {fraction:.0%} of {len(order)} rows and keep any for training"
            )
        val = [self.rows[i] for i in sorted(order[:n_val])]
        rest = [self.rows[i] for i in sorted(order[n_val:])]
        cache = self.cache is not None
        return (
            PairedDataset(
                rest,
                self.transforms,
                self.report,
                self.collates,
                cache=cache,
                sample_views=self.sample_views,
                seed=seed,
            ),
            PairedDataset(val, self.transforms, self.report, self.collates, cache=cache),
        )


def read_manifest(
    path: str | Path, modalities: Sequence[Modality | str] | None = None
) -> tuple[list[Row], DataReport]:
    """Rows of a CSV or JSONL manifest: one column per modality, file paths relative to the manifest.

    Text columns hold the text itself (or a path to a `.txt` file); in JSONL, a list of strings
    gives several descriptions of the item (`Descriptions`). Columns whose name is not a
    modality (ids, labels) are kept in the row as they are. Rows with a missing file are dropped
    and counted.

    Args:
        path: the `.csv` (with a header) or `.jsonl` file.
        modalities: columns that must be present (default: every modality column found).

    Raises:
        BadInput: the manifest is missing, of another format, or lacks a required column.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput("no such manifest", source=path)
    raw = _read_records(path)
    wanted = [Modality.parse(m).value for m in modalities] if modalities else None
    report = DataReport()
    rows: list[Row] = []
    base = path.parent
    for n, record in enumerate(raw):
        row: Row = {}
        ok = True
        for key, value in record.items():
            m = _modality(key)
            if m is None:
                row[key] = value
            elif m == Modality.TEXT.value and isinstance(value, list):
                row[m] = Descriptions(value)
            elif m == Modality.TEXT.value and not str(value).endswith(".txt"):
                row[m] = str(value)
            else:
                file = (base / str(value)).resolve()
                if not file.is_file():
                    ok = False
                    report.missing += 1
                    report.note(f"line {n + 1}: {key}: no such file {value}")
                    break
                row[m] = file
        if ok:
            lacking = sorted(set(wanted or ()) - set(row))
            if lacking:
                raise BadInput(
                    f"manifest has no {', '.join(lacking)} column (line {n + 1})", source=path
                )
            rows.append(row)
    report.rows = len(rows)
    return rows, report


def _read_records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".jsonl":
        records = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise BadInput(f"line {n + 1} is not JSON: {e}", source=path) from None
        return records
    raise BadInput("manifests are .csv or .jsonl files", source=path)


def _modality(key: str) -> str | None:
    try:
        return Modality.parse(key).value
    except BadInput:
        return None
