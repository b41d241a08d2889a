"""The protocols on tiny generated datasets with a fake space whose answers are known."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from openbind.errors import BadInput
from openbind.eval import CachedEncoder, linear_probe, load_dataset, retrieval, zero_shot
from openbind.eval.layouts import PartialDataset
from tests.eval import make_data
from tests.eval.fake_space import FakeSpace

VOCAB = make_data.VOCABULARY


@pytest.fixture
def space() -> FakeSpace:
    return FakeSpace(VOCAB)


def load(root: Path, layout: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialDataset)
        return load_dataset(root, layout)


def test_zero_shot_counts_a_mislabelled_item(tmp_path: Path, space: FakeSpace) -> None:
    root = make_data.imagefolder(tmp_path)
    (root / "dog" / "dog0.png").write_text("cat")  # says cat, filed as dog
    report = zero_shot(space, load(root, "imagefolder"), templates="imagenet")
    assert report.metrics["top1"] == pytest.approx(100 * 8 / 9, abs=0.01)
    assert report.metrics["mean_per_class"] == pytest.approx(100 * (1 + 1 + 2 / 3) / 3, abs=0.01)
    assert report.per_class == {"car": 100.0, "cat": 100.0, "dog": 66.67}
    assert "top5" not in report.metrics  # 3 classes
    assert (
        report.settings["templates"] == "imagenet" and len(report.settings["template_list"]) == 80
    )
    assert report.counts["evaluated"] == 9 and report.counts["templates"] == 80


def test_zero_shot_uses_the_benchmarks_templates_and_all_folds(
    tmp_path: Path, space: FakeSpace
) -> None:
    report = zero_shot(space, load(make_data.esc50(tmp_path), "esc50"))
    assert report.metrics["top1"] == 100.0
    assert report.settings["templates"] == "esc50"
    assert report.counts["evaluated"] == 15


def test_zero_shot_on_llvip_crops(tmp_path: Path, space: FakeSpace) -> None:
    report = zero_shot(space, load(make_data.llvip(tmp_path), "llvip"))
    assert report.metrics["top1"] == 100.0 and report.counts["evaluated"] == 4
    assert report.settings["templates"] == "llvip"


def test_refused_items_are_counted_and_warned(tmp_path: Path, space: FakeSpace) -> None:
    root = make_data.imagefolder(tmp_path)
    (root / "cat" / "cat1.png").write_text("CORRUPT")
    report = zero_shot(space, load(root, "imagefolder"))
    assert report.counts["refused"] == 1 and report.counts["evaluated"] == 8
    assert report.metrics["top1"] == 100.0
    assert any("cat/cat1.png" in w for w in report.warnings)


def test_retrieval_both_directions(tmp_path: Path, space: FakeSpace) -> None:
    report = retrieval(space, load(make_data.audiocaps(tmp_path), "audiocaps"))
    m = report.metrics
    assert m["text->audio R@1"] == 100.0 and m["audio->text R@1"] == 100.0
    assert m["text->audio median_rank"] == 1.0
    assert report.counts["text->audio queries"] == 4 and report.counts["audio->text queries"] == 2
    assert report.curves["text->audio"] == [100.0, 100.0]  # R@1, R@2 (2 candidates)
    assert report.settings["emergent"] == []


def test_emergent_pairs(tmp_path: Path, space: FakeSpace) -> None:
    data = load(make_data.nyud(tmp_path), "nyud")
    report = retrieval(space, data, pair="depth-image")  # either order names the part
    assert report.settings["emergent"] == ["image-depth"]
    assert report.metrics["image->depth R@1"] == 100.0
    assert report.metrics["depth->image mAP"] == 100.0
    with pytest.raises(BadInput, match="has no 'text-audio' pairs; it has: image-depth"):
        retrieval(space, data, pair="text-audio")
    with pytest.raises(BadInput, match="has no retrieval pairs"):
        retrieval(space, load(make_data.esc50(tmp_path / "esc"), "esc50"))
    with pytest.raises(BadInput, match="has no class labels"):
        zero_shot(space, load(make_data.coco(tmp_path / "coco"), "coco"))


def test_linear_probe_folds_splits_and_few_shot(tmp_path: Path, space: FakeSpace) -> None:
    esc = linear_probe(space, load(make_data.esc50(tmp_path), "esc50"), c_values=(0.1, 10.0))
    assert esc.settings["split"] == "leave one fold out" and esc.counts["splits"] == 5
    assert esc.metrics["top1"] == 100.0
    folders = load(make_data.imagefolder(tmp_path / "f", splits=True), "imagefolder")
    few = linear_probe(space, folders, shots=1, seed=3)
    assert few.settings["split"] == "train/test folders" and few.settings["shots"] == 1
    assert few.metrics["top1"] == 100.0
    plain = linear_probe(
        space, load(make_data.imagefolder(tmp_path / "g"), "imagefolder"), c_values=(1.0,)
    )
    assert plain.settings["split"] == "stratified 3-fold (seed 0)"


def test_new_templates_and_other_protocols_reencode_nothing(
    tmp_path: Path, space: FakeSpace
) -> None:
    data = load(make_data.esc50(tmp_path / "esc"), "esc50")
    cache = tmp_path / "cache"
    first = zero_shot(space, data, cache_dir=cache)
    assert space.calls["audio"] == 15 and first.counts["encoded"] > 15
    # a new encoder (a new process) over the same cache: other templates, then a linear probe
    again = zero_shot(space, data, templates=["{} noise"], cache_dir=cache)
    probe = linear_probe(space, data, cache_dir=cache, c_values=(1.0,))
    assert space.calls["audio"] == 15
    assert again.counts["from_cache"] == 15 and probe.counts["encoded"] == 0
    assert again.provenance["data_checksum"] == first.provenance["data_checksum"]
    # one shared encoder reuses within a process too
    shared = CachedEncoder(space)
    zero_shot(space, data, encoder=shared)
    zero_shot(space, data, encoder=shared, templates="default")
    assert shared.encoded["audio"] == 15 and shared.reused["audio"] == 15


def test_cache_misses_edited_files_and_other_weights(tmp_path: Path, space: FakeSpace) -> None:
    root = make_data.imagefolder(tmp_path / "d")
    cache = tmp_path / "cache"
    before = zero_shot(space, load(root, "imagefolder"), cache_dir=cache)
    (root / "cat" / "cat0.png").write_text("cat cat")
    after = zero_shot(space, load(root, "imagefolder"), cache_dir=cache)
    assert after.counts["encoded"] == 1  # only the edited file (prompts are cached too)
    assert after.provenance["data_checksum"] != before.provenance["data_checksum"]
    other = FakeSpace(["dog", "cat", "car", "extra"])  # same model id, other vectors
    assert CachedEncoder(other, cache).key != CachedEncoder(space, cache).key


def test_report_records_what_reproduces_it(tmp_path: Path, space: FakeSpace) -> None:
    report = zero_shot(space, load(make_data.esc50(tmp_path), "esc50"), seed=7)
    p = report.provenance
    assert p["model_id"] == "fake_words.v1" and p["space_key"].startswith("fake_words.v1-")
    assert p["openbind"] and p["versions"]["numpy"] and len(p["data_checksum"]) == 32
    assert p["card"] is None and p["weights"] == []  # not a registered model
    assert report.settings["seed"] == 7 and report.settings["template_list"]
    data = report.to_dict()
    assert data["settings"]["layout"] == "esc50" and data["counts"]["missing_files"] == 0


def test_registered_model_card_and_weights() -> None:
    from openbind.eval.provenance import model_card, weights_checksums

    assert model_card("starter_base.v1")["dim"] == 384
    shipped = weights_checksums("starter_base.v1")
    assert {w["origin"] for w in shipped} == {"shipped"}
    assert any(w["file"] == "starter_audio.safetensors" and len(w["sha256"]) == 64 for w in shipped)


def test_emergent_audio_image_pairs_from_a_manifest(tmp_path: Path, space: FakeSpace) -> None:
    data = load(make_data.manifest(tmp_path), "manifest")
    report = retrieval(space, data, pair="image-audio")
    assert report.settings["emergent"] == ["image-audio"]
    assert (
        report.metrics["image->audio R@1"] == 100.0 and report.metrics["audio->image R@1"] == 100.0
    )
    everything = retrieval(space, data)
    assert everything.settings["pairs"] == ["text-image", "text-audio", "image-audio"]


def test_retrieval_drops_refused_items_with_their_pairs(tmp_path: Path, space: FakeSpace) -> None:
    root = make_data.audiocaps(tmp_path)
    (root / "audio" / "test" / "clip_b.wav").write_text("CORRUPT")
    report = retrieval(space, load(root, "audiocaps"))
    assert report.counts["text-audio refused audio"] == 1
    assert report.counts["text->audio queries"] == 2  # clip_b's two captions have no match left
    assert report.counts["text->audio candidates"] == 1
    assert any("clip_b.wav" in w for w in report.warnings)


def test_a_space_without_the_tower_is_named(tmp_path: Path) -> None:
    from openbind.errors import MissingModality

    text_only = FakeSpace(VOCAB, modalities=("text", "image"))
    with pytest.raises(MissingModality, match="no audio tower; it has: text, image"):
        zero_shot(text_only, load(make_data.esc50(tmp_path), "esc50"))
