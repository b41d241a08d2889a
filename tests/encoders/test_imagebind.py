"""The small golden ImageBind model reproduces the reference outputs and every intermediate stage."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from openbind import config as obconfig
from openbind.encoders.base import Tower
from openbind.encoders.imagebind import (
    ImageBindConfig,
    ImageBindModel,
    ImageBindTower,
    imagebind_key_prefixes,
)
from openbind.errors import BadInput, ConfigError, MissingModality
from openbind.space.encoder import Encoder
from openbind.space.model import SpaceModel
from openbind.types import Modality
from tests.encoders.imagebind_golden import (
    CASES,
    load_io,
    load_small_model,
    reference_name,
    small_kwargs,
)

ATOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def _two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the goldens were computed with 2 threads
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model() -> ImageBindModel:
    return load_small_model()


@pytest.fixture(scope="module")
def io() -> dict:
    return load_io()


def _clips(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(0, 1) if x.ndim >= 5 else x  # (B*S, *clip_shape)


# -- configuration -------------------------------------------------------------------------------


def test_small_preset_equals_golden_constructor_kwargs() -> None:
    assert ImageBindConfig.from_reference_kwargs(small_kwargs()) == ImageBindConfig.small()


def test_config_round_trips_through_json_dict() -> None:
    cfg = ImageBindConfig.small()
    assert obconfig.from_dict(ImageBindConfig, obconfig.to_dict(cfg)) == cfg


def test_reference_kwargs_errors() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        ImageBindConfig.from_reference_kwargs({**small_kwargs(), "audio_width": 3})
    kwargs = small_kwargs()
    del kwargs["text_embed_dim"]
    with pytest.raises(ConfigError, match="text_embed_dim"):
        ImageBindConfig.from_reference_kwargs(kwargs)


# -- golden outputs and stages -------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_forward_reference_matches_golden_outputs(
    model: ImageBindModel, io: dict, case: str
) -> None:
    name = reference_name(case)
    with torch.no_grad():
        out = model.forward_reference({name: io["inputs"][case]})
    assert list(out) == [name]
    torch.testing.assert_close(out[name], io["outputs"][case], atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", CASES)
def test_every_stage_matches_golden_intermediates(
    model: ImageBindModel, io: dict, case: str
) -> None:
    name = reference_name(case)
    inter = io["intermediates"][case]
    x = _clips(io["inputs"][case])
    with torch.no_grad():
        stem = model.modality_preprocessors[name](x)
        torch.testing.assert_close(stem.tokens, inter["preproc_tokens"], atol=ATOL, rtol=0)
        if "preproc_seq_len" in inter:
            assert torch.equal(stem.head_kwargs["index"], inter["preproc_seq_len"])
        # Each later stage starts from the golden input of that stage, so errors cannot hide.
        trunk = model.modality_trunks[name](inter["preproc_tokens"], stem.attn_mask)
        torch.testing.assert_close(trunk, inter["trunk_out"], atol=ATOL, rtol=0)
        head = model.modality_heads[name](inter["trunk_out"], **stem.head_kwargs)
        torch.testing.assert_close(head, inter["head_out"], atol=ATOL, rtol=0)
        post = model.modality_postprocessors[name](inter["head_out"])
        torch.testing.assert_close(post, inter["postproc_out"], atol=ATOL, rtol=0)


def test_golden_norms_show_reference_clip_averaging(io: dict) -> None:
    # Guard on the golden data itself: clip means are not renormalised in the reference.
    norms = {case: io["outputs"][case].norm(dim=-1) for case in CASES}
    assert torch.all(norms["vision_video"] < 1 - 1e-4)
    assert torch.all(norms["audio"] < 20 - 1e-3)
    torch.testing.assert_close(norms["depth"], torch.full((2,), 5.0))


# -- towers --------------------------------------------------------------------------------------


def test_towers_give_head_outputs_and_logit_scales(model: ImageBindModel, io: dict) -> None:
    towers = model.towers()
    assert set(towers) == set(Modality)
    expected_scale = {
        Modality.IMAGE: 1.0, Modality.VIDEO: 1.0, Modality.TEXT: 1 / 0.07, Modality.AUDIO: 20.0,
        Modality.DEPTH: 5.0, Modality.THERMAL: 10.0, Modality.IMU: 5.0,
    }  # fmt: skip
    case_of = {Modality.IMAGE: "vision_image", Modality.VIDEO: "vision_video"}
    for modality, tower in towers.items():
        assert isinstance(tower, ImageBindTower)
        assert tower.modality is modality and tower.out_dim == 64
        assert tower.logit_scale == pytest.approx(expected_scale[modality], rel=1e-6)
        case = case_of.get(modality, modality.value)
        with torch.no_grad():
            out = tower(_clips(io["inputs"][case]))
        torch.testing.assert_close(out, io["intermediates"][case]["head_out"], atol=ATOL, rtol=0)


def test_video_tower_takes_5d_clips(model: ImageBindModel, io: dict) -> None:
    clips = io["inputs"]["vision_video"][0]  # (S, 3, T, H, W)
    assert clips.ndim == 5
    with torch.no_grad():
        out = model.towers([Modality.VIDEO])[Modality.VIDEO](clips)
    torch.testing.assert_close(
        out, io["intermediates"]["vision_video"]["head_out"], atol=ATOL, rtol=0
    )


@pytest.mark.parametrize("case", ["vision_video", "audio"])
def test_space_pooling_has_the_reference_direction(
    model: ImageBindModel, io: dict, case: str
) -> None:
    """openbind renormalises clip means; the reference does not. Directions agree to 1e-6."""
    modality = Modality.VIDEO if case == "vision_video" else Modality.AUDIO
    encoders = {modality: Encoder(model.towers([modality])[modality], lambda x: x)}
    space = SpaceModel("imagebind_small.golden", encoders, 64)
    items = list(io["inputs"][case])  # one (S, *clip_shape) tensor per item
    ours = space.encode(modality, items).vectors
    reference = io["outputs"][case]
    cosine = F.cosine_similarity(ours, reference, dim=-1)
    torch.testing.assert_close(cosine, torch.ones_like(cosine), atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(len(items)), atol=1e-6, rtol=0)
    assert torch.all(
        (reference.norm(dim=-1) - model.towers([modality])[modality].logit_scale).abs() > 1e-4
    )


def test_vision_accepts_other_square_sizes(model: ImageBindModel) -> None:
    x = torch.randn(1, 3, 280, 280)
    with torch.no_grad():
        out = model.forward_reference({"vision": x})["vision"]
    assert out.shape == (1, 64)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(1))


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "dtype", "expected"),
    [
        ("text", (2, 76), torch.int64, r"\(N, 77\).*\(2, 76\)"),
        ("text", (2, 77), torch.float32, "integer"),
        ("audio", (2, 1, 128, 200), torch.float32, r"\(N, 1, 128, 204\).*\(2, 1, 128, 200\)"),
        ("audio", (2, 3, 1, 128, 200), torch.float32, r"\(N, 1, 128, 204\).*\(6, 1, 128, 200\)"),
        ("depth", (2, 1, 112, 112), torch.float32, r"\(N, 1, 224, 224\)"),
        ("thermal", (2, 3, 224, 224), torch.float32, r"\(N, 1, 224, 224\)"),
        ("imu", (2, 6, 1000), torch.float32, r"\(N, 6, 2000\)"),
        ("vision", (1, 3, 224, 280), torch.float32, r"S, S.*\(1, 3, 224, 280\)"),
        ("vision", (1, 1, 224, 224), torch.float32, r"\(N, 3, S, S\)"),
        # A 5-D vision tensor is read as clips, as in the reference: (B, 3, T, H, W) fails.
        ("vision", (1, 3, 2, 224, 224), torch.float32, r"\(3, 2, 224, 224\)"),
    ],
)
def test_wrong_input_shapes_raise_bad_input(
    model: ImageBindModel, name: str, shape: tuple, dtype: torch.dtype, expected: str
) -> None:
    x = torch.zeros(shape, dtype=dtype)
    with pytest.raises(BadInput, match=expected):
        model.forward_reference({name: x})


def test_missing_tower_raises_missing_modality() -> None:
    with torch.device("meta"):
        model = ImageBindModel(ImageBindConfig.small(), modalities=["text", "audio"])
    assert model.modalities == ("text", "audio")
    with pytest.raises(MissingModality, match="has: text, audio"):
        model.forward_reference({"depth": torch.zeros(1, 1, 224, 224)})
    with pytest.raises(MissingModality):
        model.forward_reference({"image": torch.zeros(1, 3, 224, 224)})
    with pytest.raises(MissingModality):
        model.towers([Modality.IMAGE])
    with pytest.raises(MissingModality, match="sonar"):
        ImageBindModel(ImageBindConfig.small(), modalities=["sonar"])


def test_key_prefixes() -> None:
    assert imagebind_key_prefixes("audio") == (
        "modality_preprocessors.audio.",
        "modality_trunks.audio.",
        "modality_heads.audio.",
        "modality_postprocessors.audio.",
    )
    assert imagebind_key_prefixes(Modality.VIDEO) == imagebind_key_prefixes("image")
    assert imagebind_key_prefixes("image")[0] == "modality_preprocessors.vision."


def test_model_pickles_and_towers_follow_the_protocol(model: ImageBindModel, io: dict) -> None:
    copy = pickle.loads(pickle.dumps(model))  # e.g. shipped to worker processes
    x = io["inputs"]["imu"]
    with torch.no_grad():
        torch.testing.assert_close(copy.forward_reference({"imu": x}), model({"imu": x}))
    assert all(isinstance(t, Tower) for t in model.towers().values())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_keeps_the_direction(
    model: ImageBindModel, io: dict, dtype: torch.dtype
) -> None:
    half = copy.deepcopy(model).to(dtype)
    for case in CASES:
        name, x = reference_name(case), io["inputs"][case]
        x = x.to(dtype) if x.is_floating_point() else x
        with torch.no_grad():
            out = half.forward_reference({name: x})[name].float()
        cosine = F.cosine_similarity(out, io["outputs"][case], dim=-1)
        assert cosine.min() > 0.999, case
