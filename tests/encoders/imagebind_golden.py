"""Shared access to the golden small ImageBind model (`tests/golden/imagebind`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from openbind.encoders.imagebind import ImageBindConfig, ImageBindModel

GOLDEN = Path(__file__).parents[1] / "golden" / "imagebind"
STATE_DICT = GOLDEN / "small_state_dict.pt"
CASES = ("vision_image", "vision_video", "text", "audio", "depth", "thermal", "imu")


def reference_name(case: str) -> str:
    """The reference input key of a golden case ("vision_video" -> "vision")."""
    return case.split("_")[0]


def small_kwargs() -> dict:
    return json.loads((GOLDEN / "small_config.json").read_text())["kwargs"]


def load_io() -> dict:
    return torch.load(GOLDEN / "small_io.pt", weights_only=True)


def load_small_model() -> ImageBindModel:
    """The golden model, loaded strictly from its state dict."""
    model = ImageBindModel(ImageBindConfig.small())
    model.load_state_dict(torch.load(STATE_DICT, weights_only=True), strict=True)
    return model.eval()
