"""`openbind.load`: any space by name, or a saved space folder.

This sits above every layer: a registered name goes to the model layer (`openbind.space.load`), a
folder holding a saved fused space (`fused.json`) to `openbind.fusion`. The core never imports the
fusion layer; only this entry point does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openbind.errors import MissingModality
from openbind.space.protocol import Space
from openbind.types import Modality

FUSED_MARKER = "fused.json"
"""The file that marks a folder as a saved `FusedSpace` (`openbind.fusion.fused.MANIFEST`)."""


def load(
    name: str | Path, *, modalities: Sequence[Modality | str] | None = None, **options: Any
) -> Space:
    """Load the space `name`: a registered model ("starter", "imagebind_huge", see `openbind
    models`) or a folder saved by `FusedSpace.save`.

    Args:
        name: registry name or folder.
        modalities: towers to load (registered models read only those; a fused space loads its
            components whole and checks that it has them).
        **options: for registered models, `device`, `dtype`, `weights`, `preprocess` (see
            `openbind.space.load.load`); for a fused folder, `device` and `dtype`.

    Raises:
        UnknownModel, MissingWeights, ConfigError: see `openbind.space.load.load`.
        MissingModality: a requested modality is not one the space has.
        MissingComponentSpace: a fused space's component cannot be loaded.
    """
    if is_fused_folder(name):
        from openbind.fusion.fused import load_fused

        space = load_fused(name)
        missing = [m for m in map(Modality.parse, modalities or ()) if m not in space.modalities]
        if missing:
            have = ", ".join(m.value for m in space.modalities)
            raise MissingModality(f"{space.model_id} has no {missing[0].value}; it has: {have}")
        moves = {k: options[k] for k in ("device", "dtype") if k in options}
        return space.to(**moves).eval() if moves else space.eval()
    from openbind.space.load import load as load_registered

    return load_registered(str(name), modalities=modalities, **options)


def is_fused_folder(name: str | Path) -> bool:
    """Whether `name` is a folder holding a saved fused space."""
    return (Path(name) / FUSED_MARKER).is_file()
