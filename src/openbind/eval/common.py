"""Pieces every protocol shares: the encoder, and assembling a report's counts and provenance."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openbind.errors import MissingModality
from openbind.eval.cache import CachedEncoder, Encoded
from openbind.eval.data import Dataset
from openbind.eval.provenance import data_checksum, provenance
from openbind.eval.report import EvalReport
from openbind.space.protocol import Space
from openbind.types import Modality


def encoder_for(
    space: Space, encoder: CachedEncoder | None, cache_dir: str | Path | None
) -> CachedEncoder:
    """`encoder` if given (it must wrap `space`), else a new one over `cache_dir`."""
    if encoder is None:
        return CachedEncoder(space, cache_dir)
    if encoder.space is not space:
        raise ValueError("the encoder wraps another space")
    return encoder


def need(space: Space, *modalities: Modality) -> None:
    """Raise `MissingModality` (naming the towers the space has) unless it embeds `modalities`."""
    lacking = [m.value for m in modalities if m not in space.modalities]
    if lacking:
        have = ", ".join(m.value for m in space.modalities)
        raise MissingModality(f"{space.model_id} has no {', '.join(lacking)} tower; it has: {have}")


def refused(encoded: Encoded, what: str = "") -> list[str]:
    """The warning about items a space refused (none if it refused none)."""
    if not encoded.errors:
        return []
    _, name, reason = encoded.errors[0]
    prefix = f"{what}: " if what else ""
    return [f"{prefix}{len(encoded.errors)} item(s) refused, first: {name}: {reason}"]


def dataset_warnings(data: Dataset) -> list[str]:
    out = []
    if data.missing:
        out.append(f"{len(data.missing)} missing file(s), first: {data.missing[0]}")
    if data.malformed:
        out.append(f"{len(data.malformed)} malformed file(s) skipped, first: {data.malformed[0]}")
    c = data.classification
    if c is not None and c.absent_classes:
        out.append(f"classes without items: {', '.join(c.absent_classes)}")
    return out


def finish(
    task: str,
    data: Dataset,
    encoder: CachedEncoder,
    keys: Iterable[str],
    *,
    metrics: dict[str, float],
    counts: dict[str, int],
    settings: dict[str, Any],
    warnings: list[str],
    before: tuple[int, int],
    per_class: dict[str, float] | None = None,
    curves: dict[str, list[float]] | None = None,
) -> EvalReport:
    """The report, with dataset counts, encoder counts since `before` and provenance."""
    space = encoder.space
    total = (
        data.counts()
        | counts
        | {
            "encoded": sum(encoder.encoded.values()) - before[0],
            "from_cache": sum(encoder.reused.values()) - before[1],
        }
    )
    checksum = data_checksum(keys, data.files, encoder.hasher)
    encoder.hasher.save()
    return EvalReport(
        task=task,
        benchmark=data.name,
        model_id=space.model_id,
        metrics=metrics,
        per_class=per_class or {},
        curves=curves or {},
        counts=total,
        settings={"layout": data.layout, "data": str(data.root)} | settings,
        provenance=provenance(space, encoder.key, checksum),
        warnings=dataset_warnings(data) + warnings,
    )


def tally(encoder: CachedEncoder) -> tuple[int, int]:
    """The encoder's counts now, to report what one protocol run encoded and reused."""
    return sum(encoder.encoded.values()), sum(encoder.reused.values())
