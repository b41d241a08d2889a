"""Every precision path of openbind.quantize against float32 on the golden ImageBind inputs, and
what happens when the machine cannot run a request."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from openbind import quantize
from openbind.encoders.imagebind import ImageBindModel
from openbind.errors import ConfigError, UnsupportedBackend
from openbind.nn.quant import Int8Linear, Int8MultiheadAttention, int8_engine
from openbind.quantize import PrecisionWarning, optimize
from tests.encoders.imagebind_golden import CASES, load_io, load_small_model, reference_name

MIN_COSINE = {"int8": 0.99, "bfloat16": 0.99, "float16": 0.999}


@pytest.fixture(scope="module")
def io() -> dict:
    return load_io()


@pytest.fixture(scope="module")
def fp32(io: dict) -> dict[str, torch.Tensor]:
    return _outputs(load_small_model(), io)


def _outputs(model: ImageBindModel, io: dict) -> dict[str, torch.Tensor]:
    towers = {}
    for name in ("vision", "text", "audio", "depth", "thermal", "imu"):
        towers[name] = model.towers([_modality(name)])[_modality(name)].eval()
    out = {}
    with torch.no_grad():
        for case in CASES:
            x = io["inputs"][case]
            x = x.flatten(0, 1) if x.ndim >= 5 else x
            tower = towers[reference_name(case)]
            p = next(tower.trunk.parameters())
            x = x.to(p.dtype) if x.is_floating_point() else x
            out[case] = tower(x).float()
    return out


def _modality(name: str) -> str:
    return "image" if name == "vision" else name


def _min_cosines(a: dict, b: dict) -> dict[str, float]:
    return {c: float(F.cosine_similarity(a[c], b[c]).min()) for c in CASES}


@pytest.mark.skipif(int8_engine() is None, reason="torch has no x86 int8 engine here")
def test_int8_blocks_stay_within_cosine_099_of_float32(io: dict, fp32: dict) -> None:
    model = optimize(load_small_model(), int8=True)
    block = model.modality_trunks["text"].blocks[0]
    assert isinstance(block.attn, Int8MultiheadAttention)
    assert isinstance(block.mlp.fc1, Int8Linear) and isinstance(block.attn.out_proj, Int8Linear)
    assert isinstance(model.modality_heads["text"].proj[1], torch.nn.Linear)  # heads stay float
    cos = _min_cosines(_outputs(model, io), fp32)
    assert min(cos.values()) >= MIN_COSINE["int8"], cos
    assert min(cos.values()) < 1 - 1e-7  # really quantised


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_16_bit_paths_keep_the_direction(
    io: dict, fp32: dict, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quantize, "native", lambda d, device="cpu": True)  # run it even if emulated
    model = optimize(load_small_model(), dtype=dtype)
    assert next(model.parameters()).dtype == dtype
    cos = _min_cosines(_outputs(model, io), fp32)
    name = "bfloat16" if dtype == torch.bfloat16 else "float16"
    assert min(cos.values()) >= MIN_COSINE[name], cos


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_non_native_16_bit_falls_back_to_float32_with_a_warning(
    io: dict, fp32: dict, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quantize, "cpu_features", lambda: frozenset({"avx2", "fma"}))
    assert not quantize.native(quantize.parse_dtype(dtype), "cpu")
    with pytest.warns(PrecisionWarning, match="no native"):
        model = optimize(load_small_model(), dtype=dtype)
    assert next(model.parameters()).dtype == torch.float32
    out = _outputs(model, io)
    for case in CASES:
        torch.testing.assert_close(out[case], fp32[case], atol=0, rtol=0)
    with pytest.raises(UnsupportedBackend, match="no native"):
        optimize(load_small_model(), dtype=dtype, strict=True)


def test_native_detection_reads_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quantize, "cpu_features", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert quantize.native(torch.bfloat16, "cpu")
    assert not quantize.native(torch.float16, "cpu")
    assert quantize.native(torch.float32, "meta")
    assert not quantize.native(torch.bfloat16, "meta")


def test_int8_off_the_cpu_falls_back_or_fails() -> None:
    model = load_small_model().to("meta")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimize(model, int8=True)
    assert [type(w.message) for w in caught] == [PrecisionWarning]
    assert "CPU only" in str(caught[0].message)
    assert not any(isinstance(m, Int8Linear) for m in model.modules())
    with pytest.raises(UnsupportedBackend, match="CPU only"):
        optimize(model, int8=True, strict=True)


def test_bad_requests_are_config_errors() -> None:
    model = load_small_model()
    with pytest.raises(ConfigError, match="unknown dtype 'int4'"):
        optimize(model, dtype="int4")
    with pytest.raises(ConfigError, match="drop dtype"):
        optimize(model, dtype="bf16", int8=True)
    with pytest.raises(ConfigError, match="threads"):
        optimize(model, threads=0)
    assert quantize.parse_dtype("fp16") is torch.float16


def test_objects_that_are_not_modules_pass_through() -> None:
    class Fused:
        pass

    fused = Fused()
    assert optimize(fused, dtype="float32", threads=torch.get_num_threads()) is fused
    with pytest.warns(PrecisionWarning, match="not a torch module"):
        assert optimize(fused, int8=True) is fused
    with pytest.raises(UnsupportedBackend, match="not a torch module"):
        optimize(fused, dtype="bf16", strict=True)


def test_prepacked_float32_blocks_give_the_float32_outputs(io: dict, fp32: dict) -> None:
    from openbind.nn.packed import PackedLinear, PackedMultiheadAttention, prepack_available

    if not prepack_available():
        pytest.skip("no oneDNN in this torch")
    model = optimize(load_small_model(), prepack=True)
    block = model.modality_trunks["vision"].blocks[0]
    assert isinstance(block.attn, PackedMultiheadAttention)
    assert isinstance(block.mlp.fc2, PackedLinear)
    out = _outputs(model, io)
    for case in CASES:
        torch.testing.assert_close(out[case], fp32[case], atol=1e-5, rtol=0)


def test_default_packed_float32_path_equals_f_linear_on_the_golden_inputs(
    io: dict, fp32: dict
) -> None:
    from openbind.nn.fast import prepack_available, set_lazy_prepack

    if not prepack_available():
        pytest.skip("no oneDNN in this torch")
    old = set_lazy_prepack(False)  # the `fp32` fixture ran on packed weights (the default)
    try:
        plain = _outputs(load_small_model(), io)
    finally:
        set_lazy_prepack(old)
    for case in CASES:
        torch.testing.assert_close(fp32[case], plain[case], atol=1e-5, rtol=0)
        assert float(F.cosine_similarity(fp32[case], plain[case]).min()) > 0.99999


def test_prepack_off_the_cpu_falls_back_or_fails() -> None:
    from openbind.nn.packed import PackedLinear

    model = load_small_model().to("meta")
    with pytest.warns(PrecisionWarning, match="oneDNN packed linears"):
        optimize(model, prepack=True)
    assert not any(isinstance(m, PackedLinear) for m in model.modules())
    with pytest.raises(UnsupportedBackend, match="oneDNN packed linears"):
        optimize(model, prepack=True, strict=True)


@pytest.mark.skipif(int8_engine() is None, reason="torch has no x86 int8 engine here")
def test_int8_retrieval_rankings_agree_with_float32_on_the_golden_inputs(
    io: dict, fp32: dict
) -> None:
    """All 20 golden embeddings (seven cases, six modalities) retrieve each other: the nearest
    neighbour under int8 is the float32 one for every query whose float32 margin (best minus
    second similarity) exceeds twice the largest int8 change of a similarity (0.017; 9 such
    queries); measured: 18 of 20 overall, the two others have margins of 0.0003 and 0.0006 (the
    golden model's weights are nearly random)."""
    q = _outputs(optimize(load_small_model(), int8=True), io)
    a = F.normalize(torch.cat([fp32[c] for c in CASES]), dim=-1)  # (20, 64)
    b = F.normalize(torch.cat([q[c] for c in CASES]), dim=-1)
    sa, sb = a @ a.T, b @ b.T
    deviation = float((sa - sb).abs().max())
    sa.fill_diagonal_(-2.0)
    sb.fill_diagonal_(-2.0)
    top2 = sa.topk(2, dim=1).values
    confident = (top2[:, 0] - top2[:, 1]) > 2 * deviation
    agree = sa.argmax(1) == sb.argmax(1)
    print(f"int8 top-1 agreement {float(agree.float().mean()):.2f} of {len(agree)}, "
          f"{int(confident.sum())} confident queries, max similarity change {deviation:.4f}")  # fmt: skip
    assert deviation < 0.05
    assert confident.sum() >= 8  # measured: 9
    assert bool(agree[confident].all())
    assert float(agree.float().mean()) >= 0.85


def test_missing_kernels_fall_back_to_float32_or_fail(
    io: dict, fp32: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A torch build without int8 or oneDNN kernels: requests warn and keep float32 (strict:
    fail); the default path quietly runs `F.linear`, with the float32 outputs."""
    from openbind.nn import fast, packed, quant

    monkeypatch.setattr(quant, "int8_engine", lambda: None)
    monkeypatch.setattr(packed, "prepack_available", lambda: False)
    monkeypatch.setattr(fast, "prepack_available", lambda: False)
    for request, match in (({"int8": True}, "no x86 int8 kernels"), ({"prepack": True}, "oneDNN")):
        model = load_small_model()
        with pytest.warns(PrecisionWarning, match=match):
            optimize(model, **request)
        assert not any(type(m).__name__.startswith(("Int8", "Packed")) for m in model.modules())
        fast.drop_packed()
        out = _outputs(model, io)
        assert fast.packed_bytes() == 0  # no packed copies without oneDNN
        for case in CASES:
            torch.testing.assert_close(out[case], fp32[case], atol=1e-5, rtol=0)
        with pytest.raises(UnsupportedBackend, match=match):
            optimize(load_small_model(), strict=True, **request)
