"""The starter benchmark: its table format (fast) and its real numbers (slow: builds the data and
runs the starter space; the protocols themselves are covered by test_protocols.py)."""

from __future__ import annotations

import pytest

from openbind.eval.starter_bench import markdown

RESULT = {
    "model_id": "starter_base.v1",
    "rows": [
        {"data": "sounds", "task": "zero-shot", "items": 60, "metric": "top1", "value": 91.666,
         "chance": 8.3},
    ],
}  # fmt: skip


def test_markdown_table() -> None:
    assert markdown(RESULT).splitlines() == [
        "| data | task | items | metric | starter_base.v1 | chance |",
        "|---|---|---|---|---|---|",
        "| sounds | zero-shot | 60 | top1 | 91.7 | 8.3 |",
    ]
    plain = markdown(RESULT, plain=True).splitlines()
    assert plain[1].split() == ["sounds", "zero-shot", "60", "top1", "91.7", "8.3"]


@pytest.mark.slow
def test_starter_beats_chance_on_the_offline_benchmark(tmp_path) -> None:
    from openbind.eval.starter_bench import run_starter_bench

    result = run_starter_bench(root=tmp_path / "bench")
    rows = {(r["data"].split(" (")[0], r["task"], r["metric"]): r for r in result["rows"]}
    for key, margin in {
        ("photos", "zero-shot", "top1"): 30,
        ("sounds", "zero-shot", "top1"): 50,
        ("sounds", "linear-probe", "top1"): 50,
        ("sound captions", "retrieval", "text->audio R@10"): 50,
        ("generated world images by shape", "linear-probe", "top1"): 40,
    }.items():
        assert rows[key]["value"] > rows[key]["chance"] + margin, key
