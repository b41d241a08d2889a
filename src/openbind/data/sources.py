"""One entry point for training data on disk: a manifest file or a folder of tar shards."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openbind.data.paired import DataReport, Row, read_manifest
from openbind.data.shards import read_shards
from openbind.errors import BadInput
from openbind.types import Modality


def read_source(
    path: str | Path, modalities: Sequence[Modality | str]
) -> tuple[list[Row], DataReport]:
    """Rows of a `.csv` / `.jsonl` manifest, or of the `.tar` shards in a folder.

    Raises:
        BadInput: the path does not exist, or is neither a manifest nor a folder of shards.
    """
    path = Path(path)
    if path.is_dir():
        return read_shards(path, modalities)
    if path.suffix in (".csv", ".jsonl"):
        return read_manifest(path, modalities)
    if not path.exists():
        raise BadInput("no such manifest or shard folder", source=path)
    raise BadInput(
        "training data must be a .csv / .jsonl manifest or a folder of .tar shards", source=path
    )
