import json

import pytest
import torch

from openbind.data.audio import WaveformTransform
from openbind.data.paired import PairedDataset, read_manifest
from openbind.data.plan import BatchPlan
from openbind.data.shards import write_shards
from openbind.data.sources import read_source
from openbind.data.synth import write_world
from openbind.data.video import video_rows
from openbind.errors import BadInput
from openbind.preprocess.image import ImageConfig, ImageTransform
from openbind.preprocess.text import TextConfig, TextTransform


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    write_world(
        folder, 8, seed=2, size=32, sample_rate=8000, modalities=("image", "video", "audio", "text")
    )
    return folder


def _transforms():
    return {
        "image": ImageTransform(ImageConfig(size=32, crop_size=32)),
        "audio": WaveformTransform(8000, 1.0),
        "text": TextTransform(TextConfig(context_length=16)),
    }


def test_manifest_rows_resolve_paths_relative_to_the_manifest(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the manifest's folder
    rows, report = read_manifest(world / "manifest.csv", ["image", "audio", "text"])
    assert report.rows == 8 and report.missing == 0
    ds = PairedDataset(rows, _transforms())
    item = ds[0]
    assert item["image"].shape == (1, 3, 32, 32)
    assert item["audio"].shape == (1, 8000)
    assert item["text"].shape == (1, 16) and item["text"].dtype == torch.int64
    assert rows[0]["label"] and isinstance(rows[0]["text"], str)


def test_missing_files_are_skipped_and_counted(world, tmp_path):
    lines = (world / "manifest.csv").read_text().splitlines()
    lines[3] = lines[3].replace("audio/000002.wav", "audio/nope.wav")
    bad = world / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    _, report = read_manifest(bad)
    assert (report.rows, report.missing) == (7, 1)
    assert "nope.wav" in report.examples[0]


def test_jsonl_manifest(world):
    jsonl = world / "m.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({"image": f"image/{i:06d}.png", "text": f"caption {i}"}) + "\n"
            for i in range(3)
        )
    )
    rows, report = read_manifest(jsonl, ["image", "text"])
    assert report.rows == 3 and rows[2]["text"] == "caption 2"


def test_a_corrupt_file_is_replaced_by_the_next_row_and_counted(world, tmp_path):
    rows, report = read_manifest(world / "manifest.csv", ["image", "audio"])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00garbage")
    rows[1] = {**rows[1], "audio": broken}
    ds = PairedDataset(rows, {"audio": WaveformTransform(8000, 1.0)}, report)
    with pytest.warns(UserWarning, match="skipping row 1"):
        item = ds[1]
    torch.testing.assert_close(item["audio"], ds[2]["audio"])
    assert report.corrupt == 1


def test_shards_give_the_same_tensors_as_the_manifest(world, tmp_path):
    rows, _ = read_manifest(world / "manifest.csv", ["image", "audio", "text"])
    plain = [{m: r[m] for m in ("image", "audio", "text")} for r in rows]
    shards = write_shards(plain, tmp_path / "shards", rows_per_shard=3)
    assert len(shards) == 3
    sharded, report = read_source(tmp_path / "shards", ["image", "audio", "text"])
    assert report.rows == 8
    a, b = PairedDataset(rows, _transforms()), PairedDataset(sharded, _transforms())
    for i in (0, 7):
        for m in ("image", "audio", "text"):
            torch.testing.assert_close(a[i][m], b[i][m])


def test_video_rows_pair_a_frame_with_the_videos_own_audio(world):
    rows, report = video_rows([world / "video" / "000000.mp4", world / "video" / "missing.mp4"])
    assert (report.rows, report.missing) == (1, 1)
    item = PairedDataset(
        rows, {"image": _transforms()["image"], "audio": WaveformTransform(8000, 1.0)}
    )[0]
    direct = WaveformTransform(8000, 1.0)(world / "audio" / "000000.wav")
    # The AAC track is the same sound (lossy, and delayed by the encoder's priming samples).
    corr = torch.nn.functional.cosine_similarity(
        item["audio"][0].abs().unfold(0, 400, 400).mean(1),
        direct[0].abs().unfold(0, 400, 400).mean(1),
        dim=0,
    )
    assert corr > 0.9
    assert item["image"].shape == (1, 3, 32, 32)


def test_empty_and_unknown_sources_are_bad_input(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("image,text\n")
    rows, _ = read_manifest(empty)
    with pytest.raises(BadInput, match="empty"):
        PairedDataset(rows, {"text": lambda t: t})
    with pytest.raises(BadInput, match="no such manifest"):
        read_source(tmp_path / "nope.csv", [])
    with pytest.raises(BadInput, match=r"no \.tar shards"):
        read_source(tmp_path, [])


def test_ddp_ranks_split_the_single_process_global_batch_and_resume_continues():
    single = list(BatchPlan(50, 8, stop=12, seed=3))
    ranks = [list(BatchPlan(50, 4, world_size=2, rank=r, stop=12, seed=3)) for r in range(2)]
    for step in range(12):
        assert ranks[0][step] + ranks[1][step] == single[step]
    assert list(BatchPlan(50, 8, start=7, stop=12, seed=3)) == single[7:]
    assert single[0] != single[6]  # epoch 2 (6 steps per epoch) is a new permutation
    with pytest.raises(BadInput, match="fewer than one global batch"):
        BatchPlan(7, 4, world_size=2, stop=1)
