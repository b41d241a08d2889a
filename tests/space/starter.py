"""The real starter space and scikit-image's photographs, loaded once per test process."""

from __future__ import annotations

import functools

import numpy as np

import openbind
from openbind.space.model import SpaceModel


@functools.cache
def starter() -> SpaceModel:
    """`openbind.load("starter")` (offline: weights come from installed packages)."""
    return openbind.load("starter")


@functools.cache
def photos() -> dict[str, np.ndarray]:
    """The real photographs bundled with scikit-image (no download), by name."""
    from skimage import data

    names = ("astronaut", "camera", "chelsea", "coffee", "rocket", "hubble_deep_field", "moon")
    names += ("coins", "grass", "gravel", "brick", "retina")
    out = {name: getattr(data, name)() for name in names}
    out["motorcycle"] = data.stereo_motorcycle()[0]
    return out
