"""The starter space: offline loading, its towers, inputs of every kind, video, optional towers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import openbind
from openbind import registry
from openbind.errors import BadInput, MissingModality
from openbind.registry import ModelCard
from openbind.types import Modality
from openbind.zoo import starter as starter_module
from tests.space.starter import photos, starter


@pytest.fixture(scope="module")
def space():
    return starter()


def test_starter_is_the_registered_default(space):
    entry = registry.get("starter")
    assert entry.name == "starter_base.v1" and registry.get("starter_base").name == entry.name
    assert space.model_id == "starter_base.v1" and space.dim == 384
    assert space.modalities == (Modality.TEXT, Modality.IMAGE, Modality.VIDEO, Modality.AUDIO)
    assert space.logit_scale("image") == space.logit_scale("text") == 30.0


def test_a_missing_tower_says_what_the_starter_has(space):
    have = "it has: text, image, video, audio"
    with pytest.raises(MissingModality, match=f"no depth tower; {have}"):
        openbind.load("starter", modalities=["depth"])
    with pytest.raises(MissingModality, match=f"no depth tower; {have}"):
        space.encode({"depth": ["scene.png"]})


def test_only_the_asked_towers_are_built():
    entry = registry.get("starter")
    text_only = starter_module.build(entry, modalities=(Modality.TEXT,))
    assert text_only.modalities == (Modality.TEXT,)
    with pytest.raises(MissingModality, match="it has: text"):
        text_only.encode({"image": [photos()["chelsea"]]})


def test_text_vectors_are_unit_and_semantic(space):
    emb = space.encode({"text": ["a cat", "a kitten", "a truck"]})["text"]
    assert emb.vectors.shape == (3, 384)
    assert torch.allclose(emb.vectors.norm(dim=1), torch.ones(3), atol=1e-6)
    sim = emb @ emb
    assert sim[0, 1] > sim[0, 2] + 0.2


def test_stored_class_bank_is_minilm_of_the_class_names(space):
    names = starter_module.class_names()
    assert len(names) == 1000 and names[281] == "tabby cat" and names[967] == "espresso"
    bank = space.tower("image").bank
    picked = [0, 281, 409, 967, 999]
    text = space.encode("text", [names[i] for i in picked]).vectors
    assert (text - bank[picked]).abs().max().item() < 1e-5


def test_every_kind_of_image_input_gives_the_same_vector(space, tmp_path):
    array = photos()["chelsea"]
    path = tmp_path / "chelsea.png"
    Image.fromarray(array).save(path)
    ready = space.preprocess("image", array)
    items = [array, str(path), path, path.read_bytes(), Image.fromarray(array), ready]
    vectors = space.encode("image", items).vectors
    assert torch.allclose(vectors, vectors[:1].expand_as(vectors), atol=1e-6)


def test_a_corrupt_image_is_reported_by_encode_report(space):
    items = [photos()["coffee"], b"not an image", photos()["rocket"]]
    report = space.encode_report("image", items)
    assert report.kept == [0, 2] and len(report.errors) == 1
    assert report.errors[0].index == 1 and report.errors[0].item == "bytes[12]"
    with pytest.raises(BadInput, match=r"bytes\[12\]"):
        space.encode({"image": items})


def _pan_video(array: np.ndarray, frames: int = 30) -> bytes:
    av = pytest.importorskip("av")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(frames):
            frame = np.ascontiguousarray(array[40:280, 3 * i : 3 * i + 320])
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def test_video_frames_go_through_the_image_path(space):
    video = _pan_video(photos()["chelsea"])
    assert space.preprocess("video", video).shape == (8, 3, 1, 224, 224)  # 8 frames, 1 crop each
    emb = space.encode(
        {"video": [video], "image": [photos()["chelsea"], photos()["coffee"]], "text": ["a cat"]}
    )
    to_images = (emb["video"] @ emb["image"])[0]
    assert to_images[0] > 0.9 and to_images[0] > to_images[1] + 0.3
    assert (emb["video"] @ emb["text"]).item() > 0.5


def toy_audio_tower(state: dict[str, torch.Tensor], scale: float) -> tuple:
    """Builder named by the test sidecar: a linear audio tower on 4 features."""
    tower = torch.nn.Linear(4, 384)
    tower.load_state_dict(state)
    tower.modality, tower.out_dim = Modality.AUDIO, 384
    return tower, lambda item: torch.full((1, 4), float(item) * scale)


def test_an_audio_tower_file_is_picked_up(tmp_path):
    linear = torch.nn.Linear(4, 384)
    save_file(linear.state_dict(), str(tmp_path / "starter_audio.safetensors"))
    sidecar = {"builder": "tests.zoo.test_starter:toy_audio_tower", "options": {"scale": 2.0}}
    (tmp_path / "starter_audio.json").write_text(json.dumps(sidecar))
    entry = ModelCard(
        "starter_base.v1", "openbind.zoo.starter:build", ("text", "image", "video", "audio"), 384
    )
    space = starter_module.build(entry, modalities=(Modality.AUDIO,), weights=tmp_path)
    emb = space.encode({"audio": [1.0, 3.0]})["audio"]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            linear(torch.tensor([[2.0] * 4, [6.0] * 4])), dim=1
        )
    assert torch.allclose(emb.vectors, expected, atol=1e-6)


def test_a_missing_audio_tower_file_names_the_towers_there_are(tmp_path):
    entry = ModelCard(
        "starter_base.v1", "openbind.zoo.starter:build", ("text", "image", "video", "audio"), 384
    )
    with pytest.raises(
        MissingModality, match=r"no starter_audio\.safetensors .* it has: text, image, video"
    ):
        starter_module.build(entry, modalities=(Modality.AUDIO,), weights=tmp_path)


def test_loading_the_starter_audio_tower_does_not_import_train():
    """Shipped towers load from the core (`encoders.small`), never through `openbind.train`."""
    code = (
        "import sys, openbind as ob\n"
        "space = ob.load('starter', modalities=['audio'])\n"
        "assert space.modalities == (ob.Modality.AUDIO,), space.modalities\n"
        "print(sorted(m for m in sys.modules if m.startswith('openbind.train')))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"
