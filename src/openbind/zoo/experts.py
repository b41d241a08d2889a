"""Expert spaces for fusion, built from `openbind.encoders.experts`.

* `resemblyzer_speaker.v1`: the GE2E speaker encoder (audio only, 256-d) whose weights ship in
  the `resemblyzer` wheel (`pip install --no-deps resemblyzer`); voices, not words.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openbind.registry import ModelEntry
from openbind.space.model import SpaceModel
from openbind.types import Modality


def build_speaker(
    entry: ModelEntry, *, modalities: Sequence[Modality], weights: str | Path | None = None
) -> SpaceModel:
    """The speaker space (the `openbind.load` builder); `weights` is another `pretrained.pt`."""
    from openbind.encoders.experts.speaker import SpeakerFrontEnd, load_speaker_tower

    return SpaceModel(
        entry.name,
        {Modality.AUDIO: load_speaker_tower(weights)},
        {Modality.AUDIO: SpeakerFrontEnd()},
        entry.dim,
        batch_size=16,
    )
