"""RayRunner: the actor UDF in-process (fast), and the whole runner on a local Ray instance with
2 CPUs (slow: Ray's start-up takes a minute or more on a busy 2-core machine)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from openbind.pipeline import embed_to_parquet, read_embeddings
from openbind.pipeline.ray_runner import EmbedActor, RayRunner
from tests.pipeline.toy_space import DIM, MODALITIES, MODEL_ID, make_space

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    yield
    ray.shutdown()


def test_embed_actor_embeds_batches_and_reports_errors(tmp_path):
    (tmp_path / "a.txt").write_text("a dog barking")
    (tmp_path / "b.jpg").write_bytes(b"CORRUPT")
    (tmp_path / "c.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)))
    batch = {
        "row": np.array([7, 8, 9]),
        "path": np.array([str(tmp_path / n) for n in ("a.txt", "b.jpg", "c.jpg")]),
        "modality": np.array(["text", "image", "image"]),
    }
    out = EmbedActor(make_space, batch_size=2)(batch)
    space = make_space()
    assert out["row"].tolist() == [7, 8, 9]
    assert out["error"].tolist() == ["", "corrupt toy file", ""]
    np.testing.assert_allclose(
        out["vector"][0], space.encode("text", ["a dog barking"]).numpy()[0], rtol=1e-5
    )
    np.testing.assert_allclose(
        out["vector"][2], space.encode("image", [tmp_path / "c.jpg"]).numpy()[0], rtol=1e-5
    )
    assert not out["vector"][1].any()


@pytest.mark.slow
def test_ray_runner_matches_local_runner(local_ray, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    for i in range(9):
        (media / f"{i}.txt").write_text(f"caption number {i} " * (i + 1))
    (media / "pic.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)))
    (media / "bad.jpg").write_bytes(b"CORRUPT")
    (media / "bad.txt").write_bytes(b"\xc3\x28")

    runner = RayRunner(
        make_space, model_id=MODEL_ID, dim=DIM, modalities=MODALITIES, batch_size=2, chunk_size=4
    )
    summary = embed_to_parquet(runner, [media], tmp_path / "ray.parquet", progress=False)
    assert summary.embedded == 10
    reasons = {os.path.basename(s.path): s.reason for s in summary.skipped}
    assert reasons.keys() == {"bad.jpg", "bad.txt"}
    assert reasons["bad.jpg"] == "corrupt toy file" and "UTF-8" in reasons["bad.txt"]

    embed_to_parquet(make_space(), [media], tmp_path / "local.parquet", progress=False)
    by_ray, local = (
        read_embeddings(tmp_path / "ray.parquet"),
        read_embeddings(tmp_path / "local.parquet"),
    )
    assert by_ray.paths == local.paths
    np.testing.assert_allclose(by_ray.vectors, local.vectors, rtol=1e-5, atol=1e-6)
