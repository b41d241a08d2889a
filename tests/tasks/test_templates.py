"""Prompt templates stored as data."""

from __future__ import annotations

import pytest

from openbind.errors import BadInput
from openbind.tasks import datasets, templates
from openbind.types import Modality


def test_defaults_per_modality():
    assert templates("image") == ("a photo of a {}.",)
    assert templates(Modality.AUDIO) == ("the sound of {}.",)
    assert templates("text") == ("{}",)


def test_clip_imagenet_ensemble_is_stored():
    imagenet = templates("image", "imagenet")
    assert len(imagenet) == 80 and len(set(imagenet)) == 80
    assert imagenet[0] == "a bad photo of a {}." and "itap of a {}." in imagenet
    assert "imagenet_simple" in datasets("image")


@pytest.mark.parametrize("modality", [m.value for m in Modality])
def test_every_stored_template_has_one_slot(modality):
    for name in datasets(modality):
        assert all(t.count("{}") == 1 for t in templates(modality, name)), (modality, name)


def test_unknown_sets_list_the_stored_ones():
    with pytest.raises(
        BadInput, match="no 'esc51' templates for audio; stored: audioset, default, esc50"
    ):
        templates("audio", "esc51")
