"""The shared build path: meta build + key map + strict assign, transforms from the card, assembly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from openbind.cards import ModelCard, Packaged, Preprocess
from openbind.errors import CheckpointMismatch, ConfigError, MissingModality
from openbind.keymap import Rename
from openbind.space.build import build_space, load_module, resolve_weights, transforms
from openbind.types import Modality


class Tower(torch.nn.Module):
    modality, out_dim, logit_scale = Modality.TEXT, 3, 1.0

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Double:
    """A transform without settings (`Preprocess` with no config class)."""

    def __call__(self, item: float) -> torch.Tensor:
        return torch.full((1, 2), 2.0 * item)


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "w.safetensors"
    save_file({"linear.weight": torch.randn(3, 2), "linear.bias": torch.randn(3)}, str(path))
    return path


def test_load_module_maps_keys_and_assigns_strictly(weights: Path) -> None:
    tower = load_module(Tower, weights, key_map=(Rename(r"linear\.(.*)", r"proj.\1"),))
    assert not any(p.is_meta for p in tower.parameters()) and not tower.training
    from safetensors.torch import load_file

    assert torch.equal(tower.proj.weight, load_file(weights)["linear.weight"])
    with pytest.raises(CheckpointMismatch, match=r"2 missing keys: proj\.weight, proj\.bias"):
        load_module(Tower, weights, key_map=(Rename(r"linear\.(.*)", r"other.\1"),))


CARD = ModelCard(
    "toyb_tiny.v1",
    "openbind.zoo.toy:build",
    ("text", "image"),
    3,
    Packaged(),
    preprocess={"text": Preprocess("tests.space.test_build:Double")},
)


def test_build_space_takes_transforms_from_the_card(weights: Path) -> None:
    assert resolve_weights(CARD) is None  # packaged: the family finds its files
    assert resolve_weights(CARD, weights) == weights

    def towers(path: Path | None) -> dict[Modality, torch.nn.Module]:
        assert path == weights
        return {
            Modality.TEXT: load_module(Tower, path, key_map=(Rename(r"linear(.*)", r"proj\1"),))
        }

    space = build_space(CARD, modalities=(Modality.TEXT,), weights=weights, towers=towers)
    assert space.model_id == "toyb_tiny.v1" and space.dim == 3
    assert isinstance(space.encoder(Modality.TEXT).transform, Double)
    with torch.no_grad():
        expected = towers(weights)[Modality.TEXT](torch.full((1, 2), 3.0))
    torch.testing.assert_close(space.features("text", [1.5]), expected)
    with pytest.raises(MissingModality, match="no image tower was built"):
        build_space(
            CARD, modalities=(Modality.TEXT, Modality.IMAGE), weights=weights, towers=towers
        )
    with pytest.raises(ConfigError, match="no preprocessing for image in its card"):
        transforms(CARD, [Modality.IMAGE])
