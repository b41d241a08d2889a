"""Search filters (modality, path, mtime, size, tags), offsets and the tags sidecar."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openbind.errors import BadInput, IndexMismatch
from openbind.index import Filter, Library, Record, read_tags
from openbind.types import Modality


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def lib(tmp_path):
    lib = Library.create(tmp_path / "lib", model_id="toy", dim=8, roots=["/data"])
    mods = [Modality.IMAGE, Modality.TEXT, Modality.AUDIO]
    recs = [
        Record(
            f"/data/{'a' if i < 5 else 'b'}/f{i}.{'jpg' if i % 2 else 'png'}",
            mods[i % 3],
            size=100 * i,
            mtime=1_700_000_000 + 86400 * i,
            extra={"tags": {"place": "beach" if i % 4 == 0 else "city"}},
        )
        for i in range(10)
    ]
    lib.add(unit(10, 8), recs)
    lib.commit()
    return lib


def ids(hits) -> list[int]:
    return sorted(h.id for h in hits)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"modality": "audio"}, [2, 5, 8]),
        ({"modality": ["audio", "image"]}, [0, 2, 3, 5, 6, 8, 9]),
        (["modality=audio,image"], [0, 2, 3, 5, 6, 8, 9]),
        ({"path_prefix": "b/"}, [5, 6, 7, 8, 9]),
        ({"path_prefix": "/data/a/"}, [0, 1, 2, 3, 4]),
        ({"path_glob": "*.jpg"}, [1, 3, 5, 7, 9]),
        (["path=a/*.png"], [0, 2, 4]),
        (["size>=300", "size<600"], [3, 4, 5]),
        ({"size_min": 300, "size_max": 500}, [3, 4, 5]),
        (["size>800"], [9]),
        (["mtime>=2023-11-20"], [6, 7, 8, 9]),  # 1_700_000_000 is 2023-11-14T22:13:20Z
        ({"mtime_max": 1_700_000_000 + 86400}, [0, 1]),
        (["tag.place=beach"], [0, 4, 8]),
        ({"tags": {"place": "beach"}, "modality": "image"}, [0]),
        ([], list(range(10))),
    ],
)
def test_filters_select_exactly_the_matching_items(lib, spec, expected):
    hits = lib.search(unit(10, 8)[0], k=20, filter=spec)
    assert ids(hits) == expected
    assert lib.count(filter=spec) == len(expected)


def test_filter_round_trips_through_its_dict():
    f = Filter.parse(["modality=image", "path=x/*", "size<=9", "tag.place=beach"])
    assert Filter.parse(f.to_dict()) == f
    assert not Filter.parse(None) and f


def test_offset_pages_through_the_ranking(lib):
    q = unit(10, 8)[3]
    full = [h.id for h in lib.search(q, k=10)]
    pages = [h.id for o in (0, 4, 8) for h in lib.search(q, k=4, offset=o)]
    assert pages == full
    assert [h.id for h in lib.search(q, k=2, offset=1, modality="audio")] == [
        h.id for h in lib.search(q, k=3, modality="audio")
    ][1:]


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"colour": "red"}, "filter.colour", "unknown filter field 'colour'"),
        (["size=3"], "filter.size", "size takes >=, <=, > or <"),
        (["mtime>=yesterday"], "filter.mtime", "ISO 8601"),
        ({"modality": "smell"}, "filter.modality", "smell"),
        (["just words"], "filter", "FIELD=VALUE"),
        ({"size_min": -1}, "filter.size_min", "whole number"),
        ({"tags": ["beach"]}, "filter.tags", "mapping"),
    ],
)
def test_bad_filters_are_typed_errors_naming_the_field(lib, spec, field, message):
    with pytest.raises(BadInput, match=message) as info:
        lib.search(unit(1, 8)[0], filter=spec)
    assert info.value.source == field


def test_bad_vectors_offsets_and_k_are_typed_errors(lib):
    with pytest.raises(BadInput, match="offset 10 is past the end: 10 items match"):
        lib.search(unit(1, 8)[0], offset=10)
    with pytest.raises(BadInput, match="offset 3 is past the end: 3 items match"):
        lib.search(unit(1, 8)[0], offset=3, modality="audio")
    with pytest.raises(BadInput, match="must be >= 0"):
        lib.search(unit(1, 8)[0], offset=-1)
    with pytest.raises(BadInput, match="k must be >= 1"):
        lib.search(unit(1, 8)[0], k=0)
    nan = unit(1, 8)[0].copy()
    nan[2] = np.nan
    with pytest.raises(BadInput, match="NaN"):
        lib.search(nan)
    with pytest.raises(IndexMismatch, match="5-d vectors were given"):
        lib.search(np.ones(5, np.float32))


def test_tags_sidecar_csv_and_json(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "tags.csv").write_text(
        "path,place,year\nbeach.jpg,beach,2023\nx.jpg,,\n"
    )
    (tmp_path / "tags.json").write_text(json.dumps({"photos/city.jpg": {"place": "city", "n": 2}}))
    csv_tags = read_tags(tmp_path / "photos" / "tags.csv")
    assert csv_tags == {
        str((tmp_path / "photos" / "beach.jpg").resolve()): {"place": "beach", "year": "2023"},
        str((tmp_path / "photos" / "x.jpg").resolve()): {},
    }
    assert read_tags(tmp_path / "tags.json") == {
        str((tmp_path / "photos" / "city.jpg").resolve()): {"place": "city", "n": "2"}
    }
    (tmp_path / "bad.csv").write_text("file,place\na,b\n")
    with pytest.raises(BadInput, match="'path' column"):
        read_tags(tmp_path / "bad.csv")
    with pytest.raises(BadInput, match="cannot read"):
        read_tags(tmp_path / "missing.json")
