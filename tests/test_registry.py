"""registry: names, default tags, aliases, globbing, suggestions, and the builtin tables' data."""

from __future__ import annotations

import importlib.util
import re
from pathlib import PurePosixPath

import pytest

from openbind import registry
from openbind.errors import UnknownModel
from openbind.registry import ModelCard, WeightFile
from openbind.types import Modality


@pytest.fixture
def reg():
    """The registry, with changes undone after the test."""
    with registry.isolated():
        yield registry


def _entry(name: str) -> ModelCard:
    return ModelCard(name, "m:build", ("text",), 8)


def test_name_parts():
    e = _entry("qqfam_large.v2.1")
    assert (e.family, e.variant, e.tag) == ("qqfam", "qqfam_large", "v2.1")


def test_names_need_a_tag(reg):
    with pytest.raises(ValueError, match=r"family_variant\.tag, got 'qqfam_large'"):
        reg.register(_entry("qqfam_large"))


def test_get_by_full_name_variant_and_alias(reg):
    first = reg.register(_entry("qqfam_large.v1"))
    second = reg.register(_entry("qqfam_large.v2"))
    assert reg.get("qqfam_large.v2") is second
    assert reg.get("qqfam_large") is first  # the first tag of a variant is its default
    newest = reg.register(_entry("qqfam_large.v3"), default=True, aliases=("qq", "qql"))
    assert reg.get("qqfam_large") is newest
    assert reg.get("qq") is newest and reg.get("qql") is newest
    assert reg.get("qqfam_large.v1") is first


def test_unknown_model_suggests_close_names(reg):
    reg.register(_entry("qqfam_large.v1"))
    with pytest.raises(UnknownModel) as e:
        reg.get("qqfam_lrge.v1")
    assert str(e.value).startswith("unknown model 'qqfam_lrge.v1'; did you mean qqfam_large.v1")
    assert str(e.value).endswith("(see `openbind models`)")


def test_unknown_model_without_close_names(reg):
    with pytest.raises(UnknownModel) as e:
        reg.get("zzzzzzzzzzzzzzzzzz")
    assert str(e.value) == "unknown model 'zzzzzzzzzzzzzzzzzz' (see `openbind models`)"


def test_list_models_globs_and_sorts(reg):
    for name in ("qqfam_b.v1", "qqfam_a.v2", "qqfam_a.v1", "qqother_a.v1"):
        reg.register(_entry(name))
    assert [e.name for e in reg.list_models("qqfam_*")] == [
        "qqfam_a.v1",
        "qqfam_a.v2",
        "qqfam_b.v1",
    ]
    assert [e.name for e in reg.list_models("qq*_a.v1")] == ["qqfam_a.v1", "qqother_a.v1"]
    assert reg.list_models("nothing*") == []
    names = [e.name for e in reg.list_models()]
    assert names == sorted(names) and "qqother_a.v1" in names


def test_builtin_entries_are_well_formed():
    entries = registry.list_models()
    assert entries, "the builtin tables register at least one model"
    for e in entries:
        module, sep, func = e.builder.partition(":")
        assert sep and func.isidentifier(), e.name
        assert importlib.util.find_spec(module) is not None, f"{e.name}: no module {module}"
        assert e.dim > 0 and e.license, e.name
        assert all(Modality.parse(m).value == m for m in e.modalities), e.name
        for wf in e.weights:
            assert wf.url.startswith(("https://", "file://")), e.name
            assert wf.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", wf.sha256), e.name
            name = PurePosixPath(wf.filename)
            assert not name.is_absolute() and ".." not in name.parts and wf.size >= 0, e.name


def test_weight_file_defaults():
    wf = WeightFile("w.pth", "https://example.org/w.pth")
    assert (wf.sha256, wf.size) == (None, 0)


def test_isolated_undoes_registrations():
    before = [e.name for e in registry.list_models()]
    with registry.isolated():
        registry.register(_entry("qqtmp_a.v1"), aliases=("qqtmp",))
        assert registry.get("qqtmp").name == "qqtmp_a.v1"
    assert [e.name for e in registry.list_models()] == before
    with pytest.raises(UnknownModel):
        registry.get("qqtmp")
