"""config: JSON round-trips of nested frozen dataclasses, unknown/missing keys, value type checks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import pytest

from openbind.config import from_dict, load_json, save_json, to_dict
from openbind.errors import ConfigError
from openbind.types import Modality


@dataclass(frozen=True)
class Inner:
    width: int
    scale: float = 1.0
    sizes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = field(default_factory=lambda: Inner(8))
    extra: Inner | None = None
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    modality: Modality = Modality.TEXT
    towers: dict[str, Inner] = field(default_factory=dict)
    mode: Literal["fast", "exact"] = "fast"
    enabled: bool = True
    limit: int | None = None


FULL = Outer(
    name="x",
    inner=Inner(4, 0.25, (1, 2)),
    extra=Inner(2),
    mean=(0.1, 0.2, 0.3),
    modality=Modality.AUDIO,
    towers={"audio": Inner(16, sizes=(3,))},
    mode="exact",
    enabled=False,
    limit=7,
)


def test_json_round_trip(tmp_path):
    path = tmp_path / "c.json"
    save_json(FULL, path)
    data = json.loads(path.read_text())
    assert data["mean"] == [0.1, 0.2, 0.3] and data["modality"] == "audio"
    loaded = load_json(Outer, path)
    assert loaded == FULL
    assert isinstance(loaded.inner, Inner) and isinstance(loaded.towers["audio"], Inner)
    assert loaded.modality is Modality.AUDIO
    assert from_dict(Outer, to_dict(FULL)) == FULL


def test_defaults_fill_missing_optional_keys():
    assert from_dict(Outer, {"name": "y"}) == Outer("y")


def test_unknown_keys_are_listed_with_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        from_dict(Inner, {"width": 1, "wdth": 2, "zz": 3})
    assert (
        str(e.value)
        == "Inner: unknown keys ['wdth', 'zz']; valid keys: ['scale', 'sizes', 'width']"
    )


def test_nested_unknown_key_names_the_path():
    with pytest.raises(ConfigError, match=r"^Outer\.inner: unknown keys \['depth'\]"):
        from_dict(Outer, {"name": "x", "inner": {"width": 1, "depth": 2}})
    with pytest.raises(ConfigError, match=r"^Outer\.extra: unknown keys \['depth'\]"):
        from_dict(Outer, {"name": "x", "extra": {"width": 1, "depth": 2}})


def test_missing_required_key():
    with pytest.raises(ConfigError, match=r"^Outer: missing required keys \['name'\]$"):
        from_dict(Outer, {})
    with pytest.raises(ConfigError, match=r"^Outer\.inner: missing required keys \['width'\]$"):
        from_dict(Outer, {"name": "x", "inner": {}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": 3}, "Outer.name: expected str, got int 3"),
        ({"name": "x", "enabled": "yes"}, "Outer.enabled: expected bool, got str 'yes'"),
        ({"name": "x", "inner": {"width": True}}, "Outer.inner.width: expected int, got bool True"),
        ({"name": "x", "inner": {"width": 1.5}}, "Outer.inner.width: expected int, got float 1.5"),
        (
            {"name": "x", "inner": {"width": 1, "sizes": [1, "2"]}},
            "Outer.inner.sizes[1]: expected int",
        ),
        ({"name": "x", "inner": 5}, "Outer.inner: expected a mapping, got int 5"),
        ({"name": "x", "mean": [1, 2]}, "Outer.mean: expected 3 values, got 2"),
        ({"name": "x", "mean": 0.5}, "Outer.mean: expected tuple"),
        ({"name": "x", "modality": "smell"}, "Outer.modality: 'smell' is not one of"),
        ({"name": "x", "mode": "slow"}, "Outer.mode: 'slow' is not one of ['fast', 'exact']"),
        ({"name": "x", "towers": {"a": {"width": "1"}}}, "Outer.towers.a.width: expected int"),
        ({"name": "x", "limit": "7"}, "Outer.limit: expected int, got str '7'"),
    ],
)
def test_wrong_types_name_the_dotted_key(data, message):
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, data)
    assert str(e.value).startswith(message)


def test_json_numbers_and_lists_become_the_annotated_types():
    c = from_dict(Outer, {"name": "x", "inner": {"width": 2, "scale": 3}, "mean": [0, 1, 0]})
    assert c.inner.scale == 3.0 and isinstance(c.inner.scale, float)
    assert c.mean == (0.0, 1.0, 0.0) and all(isinstance(v, float) for v in c.mean)
    assert from_dict(Outer, {"name": "x", "limit": None}).limit is None


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match="Outer: expected a mapping, got list"):
        from_dict(Outer, [1, 2])  # type: ignore[arg-type]
