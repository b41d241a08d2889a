import json

import pytest
import torch
import torch.nn.functional as F

import openbind
from openbind.errors import (
    BadInput,
    CheckpointMismatch,
    ConfigError,
    MissingModality,
    SpaceMismatch,
)
from openbind.fusion import (
    PRESETS,
    FusedSpace,
    MissingComponentSpace,
    combination,
    displacement,
    load_fused,
)
from openbind.fusion.projector import MixtureOfProjectors
from openbind.types import Modality

from .toy import ToySpace

A, T, IM = Modality.AUDIO, Modality.TEXT, Modality.IMAGE


def _mix(d_in, d_out, heads=2, seed=0):
    torch.manual_seed(seed)
    mix = MixtureOfProjectors.create(d_in, d_out, heads=heads, hidden=16)
    for m in mix.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2)
    return mix.eval()


@pytest.fixture
def spaces():
    base = ToySpace("base.v1", 8, ("text", "image", "audio"), scale=30.0)
    clap = ToySpace("clap.v1", 6, ("audio", "text"))
    music = ToySpace("music.v1", 5, ("audio", "text"))
    vl = ToySpace("vl.v1", 7, ("image", "text"), scale=50.0)
    return base, clap, music, vl


def test_presets_are_freebinds():
    assert PRESETS == {"versatile": {T: 0.1, A: 0.5}, "at_expertise": {T: 0.5, A: 0.8}}


def test_fused_space_is_a_space(spaces):
    base, clap, *_ = spaces
    fused = FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8))])
    assert isinstance(fused, openbind.Space)
    assert fused.dim == 8 and fused.modalities == (T, IM, A)
    assert fused.logit_scale("audio") == 30.0


def test_combination_formula_per_modality(spaces):
    base, clap, *_ = spaces
    proj = _mix(6, 8)
    fused = FusedSpace(base, {"clap": clap}, [combination("clap", proj, "versatile")])
    items = ["x", "y", "z"]
    for m, lam in ((A, 0.5), (T, 0.1)):
        u = torch.stack([base.vector(m, x) for x in items])
        e = torch.stack([clap.vector(m, x) for x in items])
        want = F.normalize(lam * proj(e) + (1 - lam) * u, dim=-1)
        got = fused.encode(m, items)
        torch.testing.assert_close(got.vectors, want)
        assert got.model_id == fused.model_id and got.modality == m
    # image is untouched
    torch.testing.assert_close(fused.encode("image", "x").vectors[0], base.vector(IM, "x"))


def test_parallel_experts_equal_and_custom_weights(spaces):
    base, clap, music, _ = spaces
    pc, pm = _mix(6, 8, heads=3, seed=1), _mix(5, 8, heads=3, seed=2)
    items = ["a", "b"]
    u = torch.stack([base.vector(A, x) for x in items])
    ec = torch.stack([clap.vector(A, x) for x in items])
    em = torch.stack([music.vector(A, x) for x in items])
    heads = [h(ec) for h in pc.heads] + [h(em) for h in pm.heads]
    mean_all = F.normalize(torch.stack(heads).mean(0), dim=-1)  # FreeBind: mean over all heads
    fused = FusedSpace(
        base,
        {"clap": clap, "music": music},
        [combination(["clap", "music"], {"clap": pc, "music": pm}, {"audio": 0.8})],
    )
    torch.testing.assert_close(
        fused.encode(A, items).vectors, F.normalize(0.8 * mean_all + 0.2 * u, dim=-1)
    )
    weighted = FusedSpace(
        base,
        {"clap": clap, "music": music},
        [
            combination(
                ["clap", "music"],
                {"clap": pc, "music": pm},
                {"audio": 1.0},
                weights={"clap": 3.0, "music": 1.0},
            )
        ],
    )
    want = F.normalize(0.75 * pc.unnormalised(ec) + 0.25 * pm.unnormalised(em), dim=-1)
    torch.testing.assert_close(weighted.encode(A, items).vectors, want)


def test_displacement_formula_and_dim(spaces):
    base, _, _, vl = spaces
    proj = _mix(8, 7)
    fused = FusedSpace(base, {"vl": vl}, [displacement("vl", proj, {"image": 0.2, "text": 0.3})])
    assert fused.dim == 7 and fused.logit_scale("image") == 50.0
    u = base.vector(IM, "p")[None]
    e = vl.vector(IM, "p")[None]
    torch.testing.assert_close(
        fused.encode(IM, "p").vectors, F.normalize(0.2 * proj(u) + 0.8 * e, dim=-1)
    )
    # audio: only the unified space has it -> projected
    torch.testing.assert_close(fused.encode(A, "s").vectors, proj(base.vector(A, "s")[None]))


def test_sequential_chain_each_item_encoded_once(spaces):
    base, clap, _music, vl = spaces
    d = _mix(8, 7, seed=3)
    c = _mix(6, 7, seed=4)
    fused = FusedSpace(
        base,
        {"vl": vl, "clap": clap},
        [displacement("vl", d, {"text": 0.2}), combination("clap", c, "at_expertise")],
    )
    items = ["one", "two", "three"]
    out = fused.encode({"text": items, "audio": items[:2]})
    assert base.calls[T] == 3 and vl.calls[T] == 3 and clap.calls[T] == 3
    assert base.calls[A] == 2 and clap.calls[A] == 2
    u = torch.stack([base.vector(T, x) for x in items])
    v = torch.stack([vl.vector(T, x) for x in items])
    e = torch.stack([clap.vector(T, x) for x in items])
    step1 = F.normalize(0.2 * d(u) + 0.8 * v, dim=-1)
    want = F.normalize(0.5 * c(e) + 0.5 * step1, dim=-1)
    torch.testing.assert_close(out[T].vectors, want)


def test_encode_report_skips_items_any_component_refuses(spaces):
    base, clap, *_ = spaces
    fused = FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8))])
    rep = fused.encode_report("audio", ["a", "bad", "c"])
    assert rep.kept == [0, 2] and [e.index for e in rep.errors] == [1]
    torch.testing.assert_close(rep.embeddings.vectors, fused.encode("audio", ["a", "c"]).vectors)
    with pytest.raises(BadInput) as err:
        fused.encode("audio", ["a", "bad"])
    assert err.value.index == 1 and err.value.modality == "audio"


def test_features_before_final_normalisation(spaces):
    base, clap, *_ = spaces
    fused = FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8), {"audio": 0.5})])
    raw = fused.features("audio", ["a", "b"])
    assert raw.shape == (2, 8) and (raw.norm(dim=-1) < 1.0).all()
    torch.testing.assert_close(F.normalize(raw, dim=-1), fused.encode("audio", ["a", "b"]).vectors)


def test_refit_factors_without_encoding_again(spaces):
    base, clap, *_ = spaces
    fused = FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8), "versatile")])
    vectors = fused.component_vectors("text", ["a", "b"])
    calls = dict(clap.calls)
    at = fused.fuse("text", vectors, factors=["at_expertise"])
    assert clap.calls == calls
    torch.testing.assert_close(
        at.vectors, fused.with_factors("at_expertise").encode("text", ["a", "b"]).vectors
    )
    zero = fused.fuse("text", vectors, factors=[{"text": 0.0}])
    torch.testing.assert_close(zero.vectors, vectors["base"])


def test_bad_configurations_name_what_is_wrong(spaces):
    base, clap, _, vl = spaces
    other = ToySpace("depthy.v1", 6, ("depth",))
    with pytest.raises(
        SpaceMismatch, match=r"'depthy'.*depthy\.v1: depth.*shares no modality with base\.v1"
    ):
        FusedSpace(base, {"depthy": other}, [combination("depthy", _mix(6, 8))])
    with pytest.raises(
        SpaceMismatch, match=r"expert 'clap' maps 5 -> 8.*needs 6 -> 8.*clap\.v1 is 6-d"
    ):
        FusedSpace(base, {"clap": clap}, [combination("clap", _mix(5, 8))])
    with pytest.raises(SpaceMismatch, match="needs 8 -> 7"):
        FusedSpace(base, {"vl": vl}, [displacement("vl", _mix(8, 6))])
    with pytest.raises(ConfigError, match=r"factor for audio must be in \[0, 1\], got 1.5"):
        combination("clap", _mix(6, 8), {"audio": 1.5})
    with pytest.raises(ConfigError, match="factor for text must be in"):
        combination("clap", _mix(6, 8), {"text": -0.1})
    with pytest.raises(ConfigError, match=r"factor for image, which it does not mix"):
        FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8), {"image": 0.3})])
    with pytest.raises(ConfigError, match=r"unknown preset 'fast'"):
        combination("clap", _mix(6, 8), "fast")
    with pytest.raises(ConfigError, match=r"expert space 'clap' is not given"):
        FusedSpace(base, {}, [combination("clap", _mix(6, 8))])
    fused = FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8))])
    with pytest.raises(MissingModality, match="depth"):
        fused.encode("depth", ["x"])


def test_save_load_round_trip(tmp_path, spaces):
    base, clap, _music, vl = spaces
    fused = FusedSpace(
        base,
        {"vl": vl, "clap": clap},
        [
            displacement("vl", _mix(8, 7, seed=5), {"text": 0.2}),
            combination("clap", _mix(6, 7, seed=6), "versatile"),
        ],
        name="toy_fused.v1",
    )
    folder = fused.save(tmp_path / "f")
    manifest = json.loads((folder / "fused.json").read_text())
    assert manifest["components"] == {
        "base": "base.v1",
        "experts": {"vl": "vl.v1", "clap": "clap.v1"},
    }
    assert manifest["bonds"][1]["factors"] == {"text": 0.1, "audio": 0.5}
    by_name = {"base.v1": base, "vl.v1": vl, "clap.v1": clap}
    again = load_fused(folder, loader=by_name.__getitem__)
    assert again.model_id == "toy_fused.v1" and again.dim == 7
    for m in (T, A, IM):
        torch.testing.assert_close(
            again.encode(m, ["q", "r"]).vectors, fused.encode(m, ["q", "r"]).vectors
        )


def test_load_missing_component_and_bad_weights(tmp_path, spaces):
    base, clap, *_ = spaces
    folder = FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8))]).save(
        tmp_path / "f"
    )
    with pytest.raises(MissingComponentSpace, match=r"component 'clap' \(clap\.v1\)") as err:
        load_fused(folder, {"base": base})
    assert err.value.component == "clap" and err.value.source == "clap.v1"
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / "projectors.safetensors"))
    del tensors["bonds.0.clap.heads.1.bn2.running_var"]
    save_file(tensors, str(folder / "projectors.safetensors"))
    with pytest.raises(CheckpointMismatch, match=r"bonds\.0\.clap\.heads\.1\.bn2\.running_var"):
        load_fused(folder, {"base": base, "clap": clap})


def test_tasks_take_a_fused_space(spaces):
    from openbind.tasks.zero_shot import zero_shot

    base, clap, *_ = spaces
    fused = FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8), "versatile")])
    result = zero_shot(fused, ["s1", "s2"], ["dog", "cat"], modality="audio", templates=["{}"])
    audio = fused.encode("audio", ["s1", "s2"]).vectors
    text = fused.encode("text", ["dog", "cat"]).vectors
    torch.testing.assert_close(result.scores, 30.0 * audio @ text.T)  # base's logit scale


def test_a_preset_sets_only_what_the_bond_mixes(spaces):
    base, *_ = spaces
    voice = ToySpace("voice.v1", 5, ("audio",))
    fused = FusedSpace(base, {"voice": voice}, [combination("voice", _mix(5, 8), {"audio": 0.2})])
    assert fused.with_factors("at_expertise").bonds[0].factors == {A: 0.8}
    with pytest.raises(ConfigError, match="factor for text, which it does not mix"):
        fused.with_factors({"text": 0.5})


def test_openbind_load_opens_a_saved_fused_folder(tmp_path, spaces, monkeypatch):
    import openbind.space.load

    base, clap, *_ = spaces
    fused = FusedSpace(base, {"clap": clap}, [combination("clap", _mix(6, 8))], name="toy_f.v1")
    folder = fused.save(tmp_path / "f")
    by_name = {"base.v1": base, "clap.v1": clap}
    monkeypatch.setattr(openbind.space.load, "load", lambda name, **kw: by_name[name])
    again = openbind.load(folder)
    assert isinstance(again, openbind.Space) and again.model_id == "toy_f.v1"
    torch.testing.assert_close(again.encode(A, ["q"]).vectors, fused.encode(A, ["q"]).vectors)
    assert openbind.load(str(folder), modalities=["audio"]).model_id == "toy_f.v1"
    with pytest.raises(MissingModality, match="no depth"):
        openbind.load(folder, modalities=["depth"])
