"""Strict, lazy loading of weights with the exact `imagebind_huge` shapes (writes ~9.6 GB).

The light cover of the same code path is `test_imagebind.py` (the golden small model).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from openbind import checkpoint
from openbind.encoders.imagebind import ImageBindConfig, ImageBindModel
from openbind.zoo.imagebind import key_groups, load_model

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def huge_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in ImageBindModel().state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=gen) for k, s in shapes.items()}
    path = tmp_path_factory.mktemp("huge") / "imagebind_huge.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("fmt", ["pth", "folder"])
def test_huge_weights_load_strictly_and_lazily(huge_pth: Path, fmt: str) -> None:
    path = huge_pth
    if fmt == "folder":
        path = huge_pth.parent / "towers"
        if not path.exists():
            checkpoint.convert(huge_pth, path, group_of=checkpoint.group_by_prefix(key_groups()))
    model = load_model(ImageBindConfig.huge(), path, ["text", "audio"])
    assert model.modalities == ("text", "audio")
    assert sum(p.numel() for p in model.parameters()) == 354_032_641 + 86_235_648
    assert not any(t.is_meta for t in model.state_dict().values())
    reference = torch.load(huge_pth, mmap=True, weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference[key]), key
    full = load_model(
        ImageBindConfig.huge(), path, ["image", "text", "audio", "depth", "thermal", "imu"]
    )
    assert sum(p.numel() for p in full.parameters()) == 1_200_781_057
    with torch.inference_mode():
        out = full.forward_reference({"imu": torch.randn(1, 6, 2000)})["imu"]
    assert out.shape == (1, 1024) and torch.isfinite(out).all()
