"""`openbind.load`: preprocessing overrides (the model loading itself is tested per zoo entry)."""

from __future__ import annotations

import pytest
import torch

import openbind
from openbind.errors import ConfigError
from openbind.types import Modality
from tests.space.starter import photos, starter


def test_fast_images_stay_close_to_exact_on_real_photos() -> None:
    fast = openbind.load("starter", modalities=["image"], preprocess={"image": {"fast": True}})
    assert fast.encoder(Modality.IMAGE).transform.config.fast
    assert not starter().encoder(Modality.IMAGE).transform.config.fast
    images = list(photos().values())
    a = starter().encode({"image": images})["image"]
    b = fast.encode({"image": images})["image"]
    similarity = b @ a  # cosines: embeddings are normalised
    assert similarity.diagonal().min() > 0.9999, similarity.diagonal()  # measured: 0.99999
    # the nearest exact embedding of every fast one is its own photo
    assert torch.equal(similarity.argmax(1), torch.arange(len(images)))


def test_preprocess_overrides_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"preprocess.image: unknown setting\(s\) \['fastest'\]"):
        openbind.load("starter", modalities=["image"], preprocess={"image": {"fastest": True}})
    with pytest.raises(ConfigError, match="has no configurable audio transform"):
        openbind.load("starter", modalities=["image"], preprocess={"audio": {"clips": 1}})
