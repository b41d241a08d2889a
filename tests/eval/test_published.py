"""Published numbers: stored as data, marked published, matched to measured metrics."""

from __future__ import annotations

from openbind.eval.published import benchmarks, compare, published
from openbind.eval.report import EvalReport


def test_stored_numbers_match_the_sources() -> None:
    esc = {(r.model, r.metric): r.value for r in published("esc50")}
    assert esc[("ImageBind (huge)", "top1")] == 66.9  # ImageBind README
    assert esc[("LanguageBind (large)", "top1")] == 91.8  # LanguageBind README
    assert esc[("ImageBind", "top1")] == 67.25  # FreeBind Table 3
    msrvtt = {(r.model, r.metric): r.value for r in published("msrvtt")}
    assert msrvtt[("ImageBind (huge)", "text->video R@1")] == 36.8
    assert {"audiocaps", "clotho", "coco", "esc50", "imagenet", "llvip", "nyud"} <= set(
        benchmarks()
    )
    assert all(r.kind == "published" and r.source for b in benchmarks() for r in published(b))
    assert published("nothing-stored") == []


def test_compare_matches_stated_and_unstated_directions() -> None:
    report = EvalReport(
        "retrieval",
        "audiocaps",
        "my_space.v1",
        {
            "text->audio R@1": 12.0,
            "audio->text R@1": 15.0,
            "text->audio R@10": 50.0,
            "text->audio mAP": 20.0,
        },
    )
    rows = compare(report)
    measured = {r.metric: r.value for r in rows if r.kind == "measured"}
    # R@1 (FreeBind, direction unstated) matches both directions; mAP is published nowhere
    assert measured == {"text->audio R@1": 12.0, "audio->text R@1": 15.0, "text->audio R@10": 50.0}
    unstated = [r for r in rows if r.metric == "R@1"]
    assert unstated and all("direction not stated" in r.note for r in unstated)
