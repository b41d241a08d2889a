"""`imagebind_huge` built on the meta device has exactly the official keys, shapes and counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from openbind.encoders.imagebind import ImageBindConfig, ImageBindModel, imagebind_key_prefixes

GOLDEN = Path(__file__).parents[1] / "golden" / "imagebind"


def _official() -> dict[str, tuple[tuple[int, ...], str]]:
    rows = {}
    for line in (GOLDEN / "imagebind_huge_keys.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape, _dtype, kind = line.split("\t")
        rows[key] = (
            tuple(json.loads(shape.replace("(", "[").replace(")", "]").replace(",]", "]"))),
            kind,
        )
    return rows


@pytest.fixture(scope="module")
def huge() -> ImageBindModel:
    with torch.device("meta"):
        return ImageBindModel(ImageBindConfig.huge())


def test_keys_shapes_and_kinds_equal_the_official_checkpoint(huge: ImageBindModel) -> None:
    official = _official()
    assert len(official) == 1311
    ours = {k: tuple(v.shape) for k, v in huge.state_dict().items()}
    assert list(ours) == list(official)  # same keys, same order
    assert ours == {k: shape for k, (shape, _) in official.items()}
    buffers = {
        f"{m}.{b}" for m, mod in huge.named_modules() for b, _ in mod.named_buffers(recurse=False)
    }
    buffers = {k.lstrip(".") for k in buffers}
    assert buffers == {k for k, (_, kind) in official.items() if kind == "buffer"}


def test_parameter_counts(huge: ImageBindModel) -> None:
    facts = json.loads((GOLDEN / "imagebind_huge_facts.json").read_text())
    assert sum(p.numel() for p in huge.parameters()) == 1_200_781_057
    assert sum(t.numel() for t in huge.state_dict().values()) == facts["total_state_dict_elements"]
    for name, count in facts["parameters_per_modality"].items():
        prefixes = imagebind_key_prefixes(name)
        n = sum(p.numel() for k, p in huge.named_parameters() if k.startswith(prefixes))
        assert n == count, name


def test_drop_path_and_logit_scale_buffers(huge: ImageBindModel) -> None:
    facts = json.loads((GOLDEN / "imagebind_huge_facts.json").read_text())
    for name, rates in facts["drop_path_per_block"].items():
        assert [b.drop_path.p for b in huge.modality_trunks[name].blocks] == rates
    with torch.device("cpu"):  # fixed scales are computed, so check them on a real small model
        small = ImageBindModel(ImageBindConfig.small())
    for name, fact in facts["logit_scale"].items():
        value = small.modality_postprocessors[name][1].log_logit_scale
        assert float(value.detach()) == pytest.approx(fact["log_logit_scale"], abs=1e-6)
        assert isinstance(value, torch.nn.Parameter) is fact["learnable"]


def test_subset_has_only_its_keys() -> None:
    with torch.device("meta"):
        model = ImageBindModel(ImageBindConfig.huge(), modalities=["audio", "text"])
    official = _official()
    prefixes = imagebind_key_prefixes("text") + imagebind_key_prefixes("audio")
    expected = [k for k in official if k.startswith(prefixes)]
    assert list(model.state_dict()) == expected
    assert sum(p.numel() for p in model.parameters()) == 354_032_641 + 86_235_648
