import json

import pytest

from openbind import registry
from openbind.cards import ModelCard
from openbind.cli.fuse_cmd import parse_axis
from openbind.cli.main import main
from openbind.errors import BadInput


@pytest.fixture
def toys():
    with registry.isolated():
        for name, mods, dim in (
            ("toy_base.v1", ("text", "audio"), 8),
            ("toy_voice.v1", ("audio",), 6),
        ):
            registry.register(ModelCard(name, "tests.fusion.toy:build_toy", mods, dim))
        yield


def _recipe(tmp_path):
    rows = ["id,audio,text,label"] + [f"{i},clip{i},caption {i % 5},l{i % 4}" for i in range(80)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "recipe.yaml").write_text(
        "name: toy_fused.v1\nbase: toy_base.v1\nexperts: {voice: toy_voice.v1}\n"
        "bond: {kind: combination, experts: [voice], preset: versatile}\n"
        "data:\n  audio: [{manifest: data.csv, column: audio}]\n"
        "  text: [{manifest: data.csv, column: text}]\n"
        "train: {hidden: 16, epochs: 2, batch_size: 32, modes: [mix, audio]}\nout: run\n"
    )
    return tmp_path / "recipe.yaml"


def test_fuse_presets(capsys):
    assert main(["fuse", "presets"]) == 0
    out = capsys.readouterr().out
    assert "versatile" in out and "text 0.1, audio 0.5" in out and "text 0.5, audio 0.8" in out


def test_parse_axis():
    assert parse_axis("audio=0:1:0.25") == ("audio", [0.0, 0.25, 0.5, 0.75, 1.0])
    assert parse_axis("text=0.1,0.5") == ("text", [0.1, 0.5])
    with pytest.raises(BadInput, match="MODALITY=START:STOP:STEP"):
        parse_axis("audio")


def test_fuse_train_resumes_and_sweeps(tmp_path, toys, capsys):
    recipe = _recipe(tmp_path)
    assert main(["fuse", "train", str(recipe)]) == 0
    fused = tmp_path / "run" / "fused"
    manifest = json.loads((fused / "fused.json").read_text())
    assert manifest["components"] == {"base": "toy_base.v1", "experts": {"voice": "toy_voice.v1"}}
    assert manifest["bonds"][0]["factors"] == {"audio": 0.5}  # the preset's text is not mixed
    assert manifest["bonds"][0]["projectors"]["voice"]["names"] == ["mix", "audio"]
    first = json.loads((tmp_path / "run" / "summary.json").read_text())["summary"]
    assert first["encoded_items"] == 80 + 80 + 5  # audio by both spaces, 5 distinct captions
    # a second run finds the cache and the finished checkpoint: nothing is encoded again
    assert main(["fuse", "train", str(recipe), "train.epochs=2"]) == 0
    again = json.loads((tmp_path / "run" / "summary.json").read_text())["summary"]
    assert again["encoded_items"] == 0
    assert again["voice"]["heldout_r1"] == first["voice"]["heldout_r1"]
    (tmp_path / "tasks.yaml").write_text(
        "- {name: by_label, kind: retrieval, modality: audio, manifest: data.csv, column: audio, label: label}\n"
    )
    code = main(
        [
            "fuse",
            "sweep",
            str(fused),
            "--task",
            str(tmp_path / "tasks.yaml"),
            "--factor",
            "audio=0:1:0.5",
            "--out",
            str(tmp_path / "sweep"),
            "--plot",
            str(tmp_path / "s.png"),
        ]
    )
    assert code == 0
    rows = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["audio"] for r in rows] == [0.0, 0.5, 1.0, 0.5, 0.8]
    assert [r["preset"] for r in rows][-2:] == ["Versatile", "AT Expertise"]
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert "| audio | preset | by_label |" in capsys.readouterr().out


def test_fuse_train_bad_recipe(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text("bond: {kind: mixing}\nnoise: 1\n")
    assert main(["fuse", "train", str(tmp_path / "r.yaml")]) == 2
    assert "unknown keys ['noise']" in capsys.readouterr().err
