"""The shipped starter audio tower (recipes/starter_audio.yaml) on held-out generated sounds.

Figures measured with 240 held-out sounds (seed 1) are in docs/training.md; this test uses 120.
"""

import csv
from pathlib import Path

import pytest
import torch

import openbind
from openbind.data.sounds import CATEGORIES, write_sounds
from openbind.registry import get
from openbind.space.model import SpaceModel
from openbind.types import Modality
from openbind.zoo import starter

WEIGHTS = Path(starter.__file__).parent / "data" / "starter_audio.safetensors"


@pytest.mark.skipif(not WEIGHTS.exists(), reason="the starter audio tower is not trained yet")
def test_starter_audio_zero_shot_on_held_out_sounds(tmp_path):
    manifest = write_sounds(tmp_path, 120, seed=1)  # training used seed 0
    rows = list(csv.DictReader(manifest.open()))
    text_space = openbind.load("starter", modalities=["text"])
    audio, audio_transform = starter.optional_tower(Modality.AUDIO, WEIGHTS.parent, get("starter"))
    space = SpaceModel(
        "starter_base.v1",
        {"text": text_space.tower("text"), "audio": audio},
        {"text": text_space.transforms[Modality.TEXT], "audio": audio_transform},
        384,
        collates=text_space.collates,
    )
    emb = space.encode(
        {"audio": [tmp_path / r["audio"] for r in rows], "text": [c.prompt for c in CATEGORIES]}
    )
    pred = (emb["audio"] @ emb["text"]).argmax(1)
    truth = torch.tensor([[c.name for c in CATEGORIES].index(r["label"]) for r in rows])
    accuracy = (pred == truth).float().mean().item()
    assert accuracy >= 0.5  # chance is 1/12; measured: see docs/training.md
