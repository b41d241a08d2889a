"""Each layout on a tiny generated dataset in that layout, and its bad-data messages."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from openbind.errors import BadInput
from openbind.eval.layouts import LAYOUTS, LayoutOptions, PartialDataset, load_dataset
from openbind.types import Modality
from tests.eval import make_data


def quiet(root: Path, layout: str, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete dataset warns about nothing
        return load_dataset(root, layout, LayoutOptions(**options))


def test_imagefolder(tmp_path: Path) -> None:
    data = quiet(make_data.imagefolder(tmp_path), "imagefolder")
    c = data.classification
    assert c.modality is Modality.IMAGE
    assert c.classes == ("car", "cat", "dog")  # sorted folders
    assert len(c.items) == 9 and c.labels.count(2) == 3
    assert c.items[0].name == "car/car0.png"
    assert c.splits is None and c.test_rows() == list(range(9))


def test_imagefolder_splits_and_forced_modality(tmp_path: Path) -> None:
    root = make_data.imagefolder(tmp_path, per_class=2, splits=True)
    c = quiet(root, "imagefolder", modality="thermal").classification
    assert c.modality is Modality.THERMAL and c.templates == "llvip"
    assert c.splits.count("train") == 6 and len(c.test_rows()) == 6
    only_val = quiet(root, "imagefolder", split="val").classification
    assert len(only_val.items) == 6 and only_val.splits is None


def test_imagefolder_class_names_file(tmp_path: Path) -> None:
    root = make_data.imagefolder(tmp_path)
    (root / "classnames.txt").write_text("car\tmotor car\ncat\tkitten\ndog\tpuppy\n")
    c = quiet(root, "imagefolder").classification
    assert c.classes == ("motor car", "kitten", "puppy")
    (root / "classnames.txt").write_text("one\ntwo\n")
    with pytest.raises(BadInput, match=r"classnames.txt.*2 class names for 3 class folders"):
        load_dataset(root, "imagefolder")


def test_esc50(tmp_path: Path) -> None:
    c = quiet(make_data.esc50(tmp_path), "esc50").classification
    assert c.classes == ("dog", "rooster", "chirping birds")
    assert c.modality is Modality.AUDIO and c.templates == "esc50"
    assert sorted(set(c.folds)) == [1, 2, 3, 4, 5] and len(c.items) == 15


def test_audiocaps_clotho_msrvtt_coco_flickr(tmp_path: Path) -> None:
    cases = {
        "audiocaps": (make_data.audiocaps, Modality.AUDIO, 4),
        "clotho": (make_data.clotho, Modality.AUDIO, 10),
        "msrvtt": (make_data.msrvtt, Modality.VIDEO, 4),
        "coco": (make_data.coco, Modality.IMAGE, 4),
        "flickr30k": (make_data.flickr30k, Modality.IMAGE, 4),
    }
    for layout, (make, modality, n_captions) in cases.items():
        data = quiet(make(tmp_path / layout), layout)
        (pairs,) = data.retrieval
        assert pairs.a_modality is Modality.TEXT and pairs.b_modality is modality, layout
        assert len(pairs.a) == n_captions and len(pairs.b) == 2, layout
        # the captions of clip_a point at the first clip, those of clip_b at the second
        words = [set(str(pairs.b[m[0]].path.read_text()).split()) for m in pairs.matches]
        assert all(set(cap.split()) <= w for cap, w in zip(pairs.a, words, strict=True)), layout


def test_nyud_with_rgb_pairs(tmp_path: Path) -> None:
    with pytest.warns(
        PartialDataset, match=r"7 class\(es\) of the label set have no item: bathroom"
    ):
        data = load_dataset(make_data.nyud(tmp_path), "nyud")
    c = data.classification
    assert c.modality is Modality.DEPTH and c.templates == "nyu"
    assert len(c.classes) == 10 and c.classes[-1] == "others"  # the published NYU-D classes
    assert [c.classes[i] for i in sorted(set(c.labels))] == ["bedroom", "kitchen", "living room"]
    assert "bookstore" in c.absent_classes and len(c.absent_classes) == 7
    (pairs,) = data.retrieval
    assert pairs.name == "image-depth" and len(pairs.a) == 6
    for item, (j,) in zip(pairs.a, pairs.matches, strict=True):
        assert item.path.read_text() == c.items[j].path.read_text()
        assert item.path.stem == c.items[j].path.stem


def test_llvip(tmp_path: Path) -> None:
    data = quiet(make_data.llvip(tmp_path), "llvip")
    c = data.classification
    assert c.classes == ("background", "people") and c.modality is Modality.THERMAL
    assert sorted(c.labels) == [0, 0, 1, 1]
    person = c.items[c.labels.index(1)]
    assert person.box == (10, 10, 20, 40)
    assert person.value().shape == (30, 10) and person.value().mean() > 200  # the warm crop
    background = c.items[c.labels.index(0)]
    assert background.value().shape == (30, 10) and background.value().mean() < 60
    (pairs,) = data.retrieval
    assert pairs.name == "image-thermal" and len(pairs.a) == 2


def test_kinetics(tmp_path: Path) -> None:
    data = quiet(make_data.kinetics(tmp_path), "kinetics")
    c = data.classification
    assert data.name == "kinetics"
    assert c.classes == ("playing guitar", "riding a bike") and len(c.items) == 4
    assert c.modality is Modality.VIDEO and c.templates == "kinetics"


# -- bad data ------------------------------------------------------------------------------------


def test_unknown_layout_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as e:
        load_dataset(tmp_path, "imagenet21k")
    for name in LAYOUTS:
        assert name in str(e.value)


def test_missing_annotation_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"meta/esc50.csv"):
        load_dataset(tmp_path, "esc50")
    with pytest.raises(BadInput, match=r"dataset_flickr30k.json"):
        load_dataset(tmp_path, "flickr30k")
    with pytest.raises(BadInput, match=r"infrared/test"):
        load_dataset(tmp_path, "llvip")
    with pytest.raises(BadInput, match="no such data folder"):
        load_dataset(tmp_path / "nope", "coco")


def test_malformed_annotation_file_is_named(tmp_path: Path) -> None:
    root = make_data.esc50(tmp_path)
    (root / "meta" / "esc50.csv").write_text("filename,fold\nx.wav,1\n")
    with pytest.raises(BadInput, match=r"esc50.csv.*no column\(s\) \['target', 'category'\]"):
        load_dataset(root, "esc50")
    (root / "meta" / "esc50.csv").write_text("filename,fold,target,category\nx.wav,,0,dog\n")
    with pytest.raises(BadInput, match=r"esc50.csv: malformed line 2: empty \['fold'\]"):
        load_dataset(root, "esc50")
    coco = make_data.coco(tmp_path / "coco")
    (coco / "annotations" / "captions_val2017.json").write_text('{"images": [')
    with pytest.raises(BadInput, match=r"captions_val2017.json: malformed: not JSON"):
        load_dataset(coco, "coco")
    llvip = make_data.llvip(tmp_path / "llvip")
    (llvip / "Annotations" / "190001.xml").write_text("<annotation><size>")
    with pytest.raises(BadInput, match=r"190001.xml: malformed VOC annotation"):
        load_dataset(llvip, "llvip")


def test_partial_dataset_runs_with_a_warning_and_a_count(tmp_path: Path) -> None:
    root = make_data.esc50(tmp_path)
    gone = sorted((root / "audio").iterdir())[:4]
    for p in gone:
        p.unlink()
    with pytest.warns(PartialDataset, match=r"4 missing file\(s\), first: audio/") as record:
        data = load_dataset(root, "esc50")
    assert len(data.classification.items) == 11
    assert data.counts()["missing_files"] == 4
    assert any("audio/" + gone[0].name in str(w.message) for w in record)


@pytest.mark.filterwarnings("ignore:.*missing file")
def test_class_without_items_is_reported(tmp_path: Path) -> None:
    root = make_data.esc50(tmp_path)
    for p in (root / "audio").glob("*-A-2.wav"):  # every chirping_birds clip
        p.unlink()
    with pytest.warns(
        PartialDataset, match=r"1 class\(es\) of the label set have no item: chirping birds"
    ):
        data = load_dataset(root, "esc50")
    assert data.classification.absent_classes == ("chirping birds",)
    assert len(data.classification.classes) == 3  # still a candidate class


def test_nothing_usable_names_the_first_missing_file(tmp_path: Path) -> None:
    root = make_data.audiocaps(tmp_path)
    for p in (root / "audio" / "test").iterdir():
        p.unlink()
    with pytest.raises(BadInput, match=r"first missing file: youtube_id=clip_a"):
        load_dataset(root, "audiocaps")


def test_imagefolder_bad_shapes(tmp_path: Path) -> None:
    make_data.write(tmp_path / "flat.png", "x")
    with pytest.raises(BadInput, match="no class folders"):
        load_dataset(tmp_path, "imagefolder")
    root = make_data.imagefolder(tmp_path / "mixed")
    make_data.write(root / "dog" / "bark.wav", "dog")
    with pytest.raises(BadInput, match=r"dog/bark.wav: mixed modalities"):
        load_dataset(root, "imagefolder")
    odd = make_data.imagefolder(tmp_path / "odd")
    make_data.write(odd / "cat" / "notes.xyz", "?")
    with pytest.warns(PartialDataset, match=r"1 malformed file\(s\), first: cat/notes.xyz"):
        load_dataset(odd, "imagefolder")


def test_sund_uses_the_published_classes(tmp_path: Path) -> None:
    for c in ("computer_room", "corridor"):
        make_data.write(tmp_path / c / "0.png", c)
    with pytest.warns(PartialDataset, match=r"17 class\(es\)"):
        c = load_dataset(tmp_path, "sund").classification
    assert len(c.classes) == 19 and {c.classes[i] for i in c.labels} == {
        "computer room",
        "corridor",
    }


def test_msrvtt_1k_a_csv_and_coco_karpathy(tmp_path: Path) -> None:
    root = make_data.msrvtt(tmp_path / "msrvtt")
    make_data.write_csv(
        root / "MSRVTT_JSFUSION_test.csv",
        [{"key": "ret0", "vid_key": "msr0", "video_id": "video0", "sentence": "a dog barks"},
         {"key": "ret1", "vid_key": "msr1", "video_id": "video1", "sentence": "a car passes"}],
    )  # fmt: skip
    (pairs,) = quiet(root, "msrvtt").retrieval
    assert pairs.a == ("a dog barks", "a car passes") and pairs.matches == ((0,), (1,))
    coco = tmp_path / "coco"
    make_data.write(coco / "val2014" / "x.jpg", "dog")
    make_data.write(
        coco / "dataset_coco.json",
        '{"images": [{"filename": "x.jpg", "split": "test", "sentences": [{"raw": "a dog"}]},'
        ' {"filename": "y.jpg", "split": "train", "sentences": [{"raw": "a cat"}]}]}',
    )
    (pairs,) = quiet(coco, "coco").retrieval
    assert pairs.a == ("a dog",) and len(pairs.b) == 1


def test_manifest_pairs_every_two_columns(tmp_path: Path) -> None:
    data = quiet(make_data.manifest(tmp_path), "manifest")
    assert [p.name for p in data.retrieval] == ["text-image", "text-audio", "image-audio"]
    c = data.classification
    assert c.modality is Modality.IMAGE and c.classes == ("car", "cat", "dog")
    assert quiet(tmp_path, "manifest", modality="audio").classification.modality is Modality.AUDIO
    (tmp_path / "audio" / "2.wav").unlink()
    with pytest.warns(PartialDataset, match=r"1 missing file\(s\), first: audio/2.wav"):
        partial = load_dataset(tmp_path, "manifest")
    assert len(partial.retrieval[0].a) == 3
