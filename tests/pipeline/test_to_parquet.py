"""embed_to_parquet: fresh runs, incremental updates, skipped files, resuming, mismatches."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from openbind.errors import BadInput, IndexMismatch
from openbind.pipeline import LocalRunner, embed_to_parquet, read_embeddings
from openbind.pipeline.plan import Todo
from openbind.pipeline.runner import model_inputs
from openbind.types import Modality
from tests.pipeline.toy_space import DIM, MODEL_ID, make_space


@pytest.fixture
def space():
    return make_space()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a dog barking")
    (root / "b.txt").write_text("a cat sleeping on a warm mat")
    (root / "sub" / "c.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(200)))
    (root / "sub" / "d.jpg").write_bytes(b"CORRUPT jpeg")
    (root / "e.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")  # no audio tower in the toy
    (root / "f.bin").write_bytes(b"??")
    (root / ".hidden.txt").write_text("never seen")
    return root


def test_fresh_run_writes_rows_and_reports_skips(space, folder, tmp_path):
    out = tmp_path / "out.parquet"
    summary = embed_to_parquet(space, [folder], out, progress=False)
    assert (summary.embedded, summary.unchanged, summary.removed, summary.total) == (3, 0, 0, 3)
    reasons = {os.path.basename(s.path): s.reason for s in summary.skipped}
    assert set(reasons) == {"d.jpg", "e.wav", "f.bin"}
    assert "corrupt toy file" in reasons["d.jpg"]
    assert "no audio tower" in reasons["e.wav"]
    assert reasons["f.bin"] == "unsupported file type"

    table = read_embeddings(out, model_id=MODEL_ID)
    assert [os.path.basename(p) for p in table.paths] == ["a.txt", "b.txt", "c.jpg"]
    assert table.modalities == [Modality.TEXT, Modality.TEXT, Modality.IMAGE]
    assert table.vectors.shape == (3, DIM)
    np.testing.assert_allclose(np.linalg.norm(table.vectors, axis=1), 1.0, rtol=1e-5)
    expect = space.encode("text", ["a dog barking"]).numpy()[0]
    np.testing.assert_allclose(table.vectors[0], expect, rtol=1e-5)
    assert table.sizes[0] == len("a dog barking") and len(table.hashes[0]) == 32
    meta = pq.read_schema(out).metadata
    assert meta[b"openbind.model_id"] == MODEL_ID.encode() and meta[b"openbind.dim"] == b"16"
    assert not (tmp_path / "out.parquet.parts").exists()


class CountingRunner(LocalRunner):
    def __init__(self, space):
        super().__init__(space, chunk_size=2)
        self.seen: list[str] = []

    def run(self, todo, sink, *, progress=None):
        self.seen += [os.path.basename(t.path) for t in todo]
        return super().run(todo, sink, progress=progress)


def test_second_run_embeds_only_added_and_changed(space, folder, tmp_path):
    out = tmp_path / "out.parquet"
    embed_to_parquet(space, [folder], out, progress=False)
    (folder / "b.txt").write_text("a cat sleeping on a cold mat")  # changed
    (folder / "a.txt").unlink()  # deleted
    (folder / "g.txt").write_text("rain on a tin roof")  # added
    (folder / "sub" / "copy.jpg").write_bytes((folder / "sub" / "c.jpg").read_bytes())  # duplicate
    os.utime(folder / "sub" / "c.jpg", (1, 1))  # touched, same content
    runner = CountingRunner(space)
    summary = embed_to_parquet(runner, [folder], out, progress=False)
    assert sorted(runner.seen) == ["b.txt", "d.jpg", "g.txt"]
    assert (summary.embedded, summary.reused, summary.unchanged, summary.removed) == (2, 1, 1, 2)
    table = read_embeddings(out)
    names = [os.path.basename(p) for p in table.paths]
    assert names == ["b.txt", "g.txt", "c.jpg", "copy.jpg"]
    np.testing.assert_array_equal(table.vectors[2], table.vectors[3])
    expect = space.encode("text", ["a cat sleeping on a cold mat"]).numpy()[0]
    np.testing.assert_allclose(table.vectors[0], expect, rtol=1e-5)

    third = CountingRunner(space)
    summary = embed_to_parquet(third, [folder], out, progress=False)
    assert third.seen == ["d.jpg"] and summary.unchanged == 4 and summary.total == 4


def test_interrupted_run_resumes_from_parts(space, folder, tmp_path):
    out = tmp_path / "out.parquet"

    class Crash(LocalRunner):
        def run(self, todo, sink, *, progress=None):
            inputs, good = model_inputs(todo[:1], [])
            sink(good, self.space.encode(good[0].modality, inputs).numpy())
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_to_parquet(Crash(space), [folder], out, progress=False)
    assert not out.exists() and len(list((tmp_path / "out.parquet.parts").iterdir())) == 1
    runner = CountingRunner(space)
    summary = embed_to_parquet(runner, [folder], out, progress=False)
    assert sorted(runner.seen) == ["b.txt", "c.jpg", "d.jpg"]  # corrupt files are retried
    assert summary.total == 3 and summary.unchanged == 1


def test_other_space_is_refused(space, folder, tmp_path):
    out = tmp_path / "out.parquet"
    embed_to_parquet(space, [folder / "a.txt"], out, progress=False)
    other = make_space()
    other.model_id = "other_model.v1"
    with pytest.raises(IndexMismatch, match=r"holds embeddings of toyhash_small\.v1"):
        embed_to_parquet(other, [folder], out, progress=False)


def test_forced_modality_and_missing_input(space, folder, tmp_path):
    out = tmp_path / "out.parquet"
    summary = embed_to_parquet(space, [folder / "f.bin"], out, force="depth", progress=False)
    assert summary.embedded == 1 and read_embeddings(out).modalities == [Modality.DEPTH]
    with pytest.raises(BadInput, match="no such file"):
        embed_to_parquet(space, [folder / "nope"], out, progress=False)


def test_garbage_output_file_is_refused(space, folder, tmp_path):
    (tmp_path / "out.parquet").write_text("not parquet")
    with pytest.raises(BadInput, match="cannot read embeddings"):
        embed_to_parquet(space, [folder], tmp_path / "out.parquet", progress=False)


def test_runner_chunks_feed_sink_in_order(space, tmp_path):
    files = []
    for i in range(7):
        (tmp_path / f"{i}.txt").write_text(f"text number {i}" * (i + 1))
        files.append(Todo(tmp_path / f"{i}.txt", Modality.TEXT, "", 0, 0.0))
    calls = []
    LocalRunner(space, chunk_size=3).run(
        files, lambda d, v: calls.append((len(d), v.shape)), progress=False
    )
    assert calls == [(3, (3, DIM)), (3, (3, DIM)), (1, (1, DIM))]


def test_text_files_are_read_and_bad_utf8_is_skipped(space, tmp_path):
    (tmp_path / "good.txt").write_text("a dog barking")
    (tmp_path / "bad.txt").write_bytes(b"caf\xc3\x28")
    summary = embed_to_parquet(space, [tmp_path], tmp_path / "o.parquet", progress=False)
    assert summary.embedded == 1
    assert [os.path.basename(s.path) for s in summary.skipped] == ["bad.txt"]
    assert "UTF-8" in summary.skipped[0].reason
    table = read_embeddings(tmp_path / "o.parquet")
    np.testing.assert_allclose(
        table.vectors[0], space.encode("text", ["a dog barking"]).numpy()[0], rtol=1e-5
    )
