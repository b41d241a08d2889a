"""Sharded tar files for large paired sets (the WebDataset layout, read with random access).

Each shard is a plain `.tar`; the files of one row share a key and are named
`<key>.<modality>.<ext>` (e.g. `000042.image.png`, `000042.audio.wav`, `000042.text.txt`).
Reading indexes every shard once (member offsets, no data read) and loads a member's bytes only
when its row is loaded, so shards can be far larger than memory and still be shuffled freely.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openbind.data.paired import DataReport, Row
from openbind.errors import BadInput
from openbind.types import Modality


@dataclass(frozen=True)
class TarMember:
    """The bytes of one file inside a tar shard, read on `load`."""

    shard: Path
    offset: int
    size: int
    name: str

    def load(self) -> bytes | str:
        with self.shard.open("rb") as f:
            f.seek(self.offset)
            data = f.read(self.size)
        if len(data) != self.size:
            raise BadInput(
                f"{self.name} is truncated ({len(data)} of {self.size} bytes)", source=self.shard
            )
        if self.name.endswith(".text.txt"):
            return data.decode("utf-8")
        return data


def write_shards(rows: Iterable[Row], out: str | Path, *, rows_per_shard: int = 1000) -> list[Path]:
    """Pack rows (file paths, or text for the text column) into `out/shard-NNNNN.tar`.

    Returns:
        The shard paths written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shards: list[Path] = []
    chunk: list[Row] = []
    for n, row in enumerate(rows):
        chunk.append(row)
        if len(chunk) == rows_per_shard:
            shards.append(
                _write_shard(out / f"shard-{len(shards):05d}.tar", chunk, n + 1 - len(chunk))
            )
            chunk = []
    if chunk:
        shards.append(
            _write_shard(out / f"shard-{len(shards):05d}.tar", chunk, len(shards) * rows_per_shard)
        )
    return shards


def _write_shard(path: Path, rows: list[Row], first: int) -> Path:
    with tarfile.open(path, "w") as tar:
        for n, row in enumerate(rows, start=first):
            key = f"{n:08d}"
            for column, item in row.items():
                m = Modality.parse(column).value
                if m == Modality.TEXT.value and not isinstance(item, Path):
                    _add_bytes(tar, f"{key}.text.txt", str(item).encode("utf-8"))
                else:
                    tar.add(str(item), arcname=f"{key}.{m}{Path(item).suffix}")
    return path


def read_shards(
    folder: str | Path, modalities: Sequence[Modality | str] | None = None
) -> tuple[list[Row], DataReport]:
    """Rows of every `*.tar` in `folder` (sorted), as lazily read `TarMember` items.

    Rows lacking one of `modalities` are skipped and counted as missing.

    Raises:
        BadInput: no shards, or a shard is not a readable tar file.
    """
    folder = Path(folder)
    shards = sorted(folder.glob("*.tar"))
    if not shards:
        raise BadInput("no .tar shards in folder", source=folder)
    wanted = {Modality.parse(m).value for m in modalities} if modalities else set()
    report = DataReport()
    rows: list[Row] = []
    for shard in shards:
        grouped: dict[str, dict[str, Any]] = {}
        try:
            with tarfile.open(shard, "r") as tar:
                for info in tar:
                    if not info.isfile():
                        continue
                    key, _, rest = info.name.partition(".")
                    column = rest.split(".")[0]
                    grouped.setdefault(key, {})[column] = TarMember(
                        shard, info.offset_data, info.size, info.name
                    )
        except tarfile.TarError as e:
            raise BadInput(f"not a readable tar shard: {e}", source=shard) from None
        for key, row in grouped.items():
            lacking = sorted(wanted - set(row))
            if lacking:
                report.missing += 1
                report.note(f"{shard.name}: {key} has no {', '.join(lacking)}")
            else:
                rows.append(row)
    report.rows = len(rows)
    return rows, report


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
