"""The toy family of docs/adding-a-family.md: a Hugging Face-format folder (config.json +
safetensors) loaded through `openbind.load` by the shared build path, and the errors of bad folders."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

import openbind
from openbind import registry
from openbind.errors import CheckpointMismatch, MissingWeights
from openbind.preprocess.image import ImageConfig, ImageTransform
from openbind.types import Modality
from tests.zoo.toy_family import family
from tests.zoo.toy_family.model import ByteTokens, ByteTokensConfig, ToyClip, ToyConfig

DOC = Path(__file__).parents[2] / "docs" / "adding-a-family.md"
TEXTS = ["a cat", "a dog on a mat"]


def to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`ToyClip`'s state dict in the Hugging Face CLIP layout (q/k/v split), written by hand."""
    out = {}
    for key, t in state.items():
        tower, rest = key.split(".", 1)
        hf = {"text": "text", "image": "vision"}[tower]
        if m := re.fullmatch(r"encoder\.layers\.(\d+)\.in_proj_(weight|bias)", rest):
            for name, part in zip("qkv", t.chunk(3), strict=True):
                out[f"{hf}_model.encoder.layers.{m[1]}.self_attn.{name}_proj.{m[2]}"] = part
        elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.out_proj\.(weight|bias)", rest):
            out[f"{hf}_model.encoder.layers.{m[1]}.self_attn.out_proj.{m[2]}"] = t
        elif rest == "pos.weight":
            out[f"{hf}_model.embeddings.position_embedding.weight"] = t
        elif rest.startswith("encoder.norm."):
            norm = "final_layer_norm" if tower == "text" else "post_layernorm"
            out[f"{hf}_model.{norm}.{rest.rsplit('.', 1)[1]}"] = t
        else:
            out[
                {
                    "text.tokens.weight": "text_model.embeddings.token_embedding.weight",
                    "image.patch.weight": "vision_model.embeddings.patch_embedding.weight",
                    "text.proj.weight": "text_projection.weight",
                    "image.proj.weight": "visual_projection.weight",
                    "text.log_logit_scale": "logit_scale",
                }[key]
            ] = t
    out["text_model.embeddings.position_ids"] = torch.arange(8)[None]
    return {k: v.contiguous() for k, v in out.items()}


@pytest.fixture
def reference() -> ToyClip:
    torch.manual_seed(0)
    model = ToyClip(ToyConfig())
    with torch.no_grad():
        model.text.log_logit_scale.fill_(math.log(10.0))
    return model.eval()


@pytest.fixture
def folder(tmp_path: Path, reference: ToyClip) -> Path:
    out = tmp_path / "toy-hf"
    out.mkdir()
    save_file(to_hf(reference.state_dict()), str(out / "model.safetensors"))
    config = {"model_type": "toy_clip", "architectures": ["ToyClip"], **vars(ToyConfig())}
    (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.fixture
def toy(folder: Path):
    with registry.isolated():
        registry.register(family.card(folder))
        yield folder


def test_loads_through_openbind_load_like_the_reference(toy: Path, reference: ToyClip) -> None:
    space = openbind.load("toy")
    assert space.model_id == "toy_tiny.test" and space.dim == 8
    assert space.modalities == (Modality.TEXT, Modality.IMAGE)
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    emb = space.encode({"text": TEXTS, "image": [image]})
    tokens = ByteTokens(ByteTokensConfig())
    pixels = ImageTransform(ImageConfig(size=8, crop_size=8, mean=(0.5,) * 3, std=(0.5,) * 3))
    with torch.no_grad():
        text = reference.text(torch.cat([tokens(t) for t in TEXTS]))
        img = reference.image(pixels(image))
    torch.testing.assert_close(emb["text"].vectors, F.normalize(text, dim=-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(emb["image"].vectors, F.normalize(img, dim=-1), atol=1e-6, rtol=0)
    assert space.logit_scale("text") == pytest.approx(10.0)
    assert space.logit_scale("image") == 1.0
    # the key map joined q, k and v back into the fused projection exactly
    loaded = space.tower("text").encoder.layers[0].in_proj_weight
    assert torch.equal(loaded, reference.text.encoder.layers[0].in_proj_weight)
    # preprocessing comes from the card, typed
    assert space.encoder(Modality.IMAGE).transform.config.crop_size == 8


def test_only_asked_towers_and_a_weights_override(toy: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy"
    other.mkdir()
    for f in toy.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    space = openbind.load("toy", modalities=["text"], weights=other)
    assert space.modalities == (Modality.TEXT,)
    assert space.encode("text", "a cat").vectors.shape == (1, 8)


def test_a_folder_without_config_json_names_it(toy: Path) -> None:
    (toy / "config.json").unlink()
    with pytest.raises(MissingWeights, match=r"toy-hf is not a complete .* missing config\.json$"):
        openbind.load("toy")


def test_a_folder_without_weights_names_them(toy: Path) -> None:
    (toy / "model.safetensors").unlink()
    with pytest.raises(
        MissingWeights, match=r"missing a weight file \(\*\.safetensors or pytorch_model\.bin\)"
    ):
        openbind.load("toy")


def test_a_sharded_folder_names_the_missing_shard(toy: Path) -> None:
    state = load_file(toy / "model.safetensors")
    keys = sorted(state)
    half = len(keys) // 2
    shards = {"model-1.safetensors": keys[:half], "model-2.safetensors": keys[half:]}
    for name, part in shards.items():
        save_file({k: state[k] for k in part}, str(toy / name))
    (toy / "model.safetensors").unlink()
    index = {"weight_map": {k: name for name, part in shards.items() for k in part}}
    (toy / "model.safetensors.index.json").write_text(json.dumps(index))
    assert openbind.load("toy", modalities=["text"]).dim == 8  # both shards read
    (toy / "model-2.safetensors").unlink()
    with pytest.raises(MissingWeights, match=r"model-2\.safetensors \(listed in model"):
        openbind.load("toy")


def test_keys_the_map_cannot_place_are_listed(toy: Path) -> None:
    state = load_file(toy / "model.safetensors")
    state["text_model.embeddings.extra.weight"] = torch.zeros(2)
    state["vision_model.pooler.bias"] = torch.zeros(2)
    save_file(state, str(toy / "model.safetensors"))
    with pytest.raises(CheckpointMismatch) as err:
        openbind.load("toy")
    message = str(err.value)
    assert "2 key(s) map to no openbind key" in message
    assert "text_model.embeddings.extra.weight" in message and "vision_model.pooler.bias" in message


def test_a_missing_q_projection_is_named(toy: Path) -> None:
    state = load_file(toy / "model.safetensors")
    del state["vision_model.encoder.layers.0.self_attn.q_proj.weight"]
    save_file(state, str(toy / "model.safetensors"))
    with pytest.raises(
        CheckpointMismatch, match=r"image\.encoder\.layers\.0\.in_proj_weight lacks"
    ):
        openbind.load("toy")


def test_the_doc_shows_the_code_the_tests_run() -> None:
    """Every code block of docs/adding-a-family.md marked with a test file is that file."""
    blocks = re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert {path for path, _ in blocks} == {
        "tests/zoo/toy_family/model.py",
        "tests/zoo/toy_family/family.py",
    }
    root = DOC.parents[1]
    for path, code in blocks:
        assert code == (root / path).read_text(), f"{DOC.name} is out of date with {path}"
