import pytest

from openbind.errors import ConfigError
from openbind.train.config import TowerConfig, load_recipe, to_yaml

RECIPE = """
# openbind train this.yaml
data: {train: pairs.csv, batch_size: 8}
model:
  anchor: text
  towers:
    audio: {kind: wave_audio, widths: [8, 16]}
optim: {lr: 0.001}
"""


def test_recipe_with_dotted_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    cfg = load_recipe(
        path,
        [
            "optim.lr=3e-4",
            "loop.steps=7",
            "model.towers.audio.widths=[4,8,16]",
            "model.trainable=[audio]",
        ],
    )
    assert cfg.optim.lr == 3e-4
    assert cfg.loop.steps == 7
    assert cfg.model.towers["audio"] == TowerConfig(kind="wave_audio", widths=(4, 8, 16))
    assert cfg.model.trainable == ("audio",)
    assert cfg.data.batch_size == 8
    assert load_recipe(None, []).loop.steps == 1000  # the defaults


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    cfg = load_recipe(path, ["optim.betas=[0.8, 0.9]"])
    again = tmp_path / "again.yaml"
    again.write_text(to_yaml(cfg))
    assert load_recipe(again) == cfg


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(
        ConfigError, match=r"unknown key\(s\) \['optim.learning_rate'\].*valid keys: \[.*'lr'"
    ):
        load_recipe(None, ["optim.learning_rate=1e-3"])
    with pytest.raises(
        ConfigError,
        match=r"\['trainer'\].*valid keys: \['data', 'export', 'loop', 'lora', 'model', 'optim'\]",
    ):
        load_recipe(None, ["trainer.steps=3"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("loop.steps=many", "loop.steps: expected int"),
        ("loop.steps=2.5", "loop.steps: expected int"),
        ("loop.resume=3", "loop.resume: expected bool"),
        ("optim.betas=[0.9]", "optim.betas: expected a list of 2"),
        ("model.towers.audio.widths=wide", "model.towers.audio.widths: expected a list"),
        ("data=3", "data: expected a mapping"),
    ],
)
def test_wrong_types_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_recipe(None, [override])


def test_int_is_accepted_for_float():
    assert load_recipe(None, ["optim.lr=1"]).optim.lr == 1.0


def test_bad_override_syntax_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_recipe(None, ["optim.lr"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="cannot read recipe"):
        load_recipe(bad)
