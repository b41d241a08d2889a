"""ONNX export of towers: onnxruntime gives PyTorch's features (golden small ImageBind)."""

from __future__ import annotations

import json

import pytest
import torch

from openbind import registry
from openbind.cli.main import main
from openbind.export import check_onnx, export_tower
from openbind.registry import ModelCard
from openbind.types import Modality
from tests.encoders.imagebind_golden import STATE_DICT, load_io, load_small_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SMALL = ModelCard(
    name="zzexport_imagebind_small.golden",
    builder="openbind.zoo.imagebind:build",
    modalities=tuple(m.value for m in Modality),
    dim=64,
    arch="small",
)


@pytest.mark.parametrize(("modality", "case"), [(Modality.TEXT, "text"), (Modality.AUDIO, "audio")])
def test_onnxruntime_matches_torch_on_golden_inputs(tmp_path, modality, case) -> None:
    import onnxruntime as ort

    tower = load_small_model().towers([modality])[modality].eval()
    path = export_tower(tower, tower.example_input(2), tmp_path / f"{case}.onnx")
    assert tower.fast  # switched back on after exporting
    x = load_io()["inputs"][case]
    x = x.flatten(0, 1) if x.ndim >= 5 else x  # another batch size than the export's
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"clips": x.numpy()})[0])
    expected = load_io()["intermediates"][case]["head_out"]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert check_onnx(path, tower, tower.example_input(3, seed=1)) < 1e-5


def test_cli_exports_each_tower_and_reports_the_deviation(tmp_path, capsys) -> None:
    with registry.isolated():
        registry.register(SMALL)
        args = ["export", SMALL.name, str(tmp_path), "--weights", str(STATE_DICT)]
        assert main([*args, "--modalities", "image,imu", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["modality"] for r in rows] == ["image", "imu"]
    assert all(r["max_abs_diff"] < 1e-5 and r["bytes"] > 10_000 for r in rows)
    assert (tmp_path / "image.onnx").exists()
    assert json.loads((tmp_path / "export.json").read_text())["towers"] == rows
