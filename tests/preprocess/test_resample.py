"""Resampling: equal to the windowed-sinc definition torchaudio implements, for any pair of rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from openbind.preprocess.resample import resample, sinc_kernel


def _direct(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """float64 y[j] = sum_i x[i] h((i / orig - j / new) * base), h = Hann-windowed sinc, |t| <= 6."""
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    base = min(orig, new) * 0.99
    n_out = math.ceil(new * len(x) / orig)
    i = np.arange(len(x))[None, :]
    j = np.arange(n_out)[:, None]
    t = np.clip((i / orig - j / new) * base, -6, 6)
    h = np.sinc(t) * np.cos(t * np.pi / 12) ** 2 * base / orig
    return h @ x.astype(np.float64)


@pytest.mark.parametrize(
    ("orig", "new"),
    [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000), (16000, 44100), (12345, 16000)],
)
def test_matches_the_direct_definition(orig: int, new: int):
    x = np.random.default_rng(orig).uniform(-1, 1, 700).astype(np.float32)
    y = resample(torch.from_numpy(x)[None], orig, new)[0].numpy()
    np.testing.assert_allclose(
        y, _direct(x, orig, new), rtol=0, atol=1e-4
    )  # torchaudio builds its filter in float32


def test_same_rate_is_identity_and_batches_are_independent():
    x = torch.randn(3, 2, 1000)
    assert resample(x, 16000, 16000) is x
    y = resample(x, 44100, 16000)
    assert y.shape == (3, 2, math.ceil(16000 * 1000 / 44100))
    torch.testing.assert_close(y[1, 0], resample(x[1, 0], 44100, 16000), rtol=0, atol=1e-6)


def test_kernel_is_gcd_reduced_and_cached():
    kernel, width = sinc_kernel(441, 160)
    assert kernel.shape == (160, 1, 2 * width + 441) and width == 17
    assert sinc_kernel(441, 160)[0] is kernel
    with pytest.raises(ValueError):
        resample(torch.zeros(1, 10), 0, 16000)


@settings(max_examples=40, deadline=None)
@given(st.integers(1000, 96000), st.integers(1000, 96000), st.integers(1, 3000))  # incl. coprime
def test_output_length_is_ceil(orig: int, new: int, n: int):
    y = resample(torch.zeros(1, n), orig, new)
    assert y.shape == (1, -(-new * n // orig))


def test_direct_evaluation_equals_polyphase(monkeypatch):
    x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (2, 900)).astype(np.float32))
    want = resample(x, 44100, 16000)
    monkeypatch.setattr("openbind.preprocess.resample.MAX_KERNEL", 0)
    torch.testing.assert_close(resample(x, 44100, 16000), want, rtol=0, atol=1e-4)


@pytest.mark.parametrize(("orig", "new"), [(44100, 16000), (8000, 16000), (12345, 16000)])
def test_ranges_equal_slices_of_the_whole(orig: int, new: int):
    from openbind.preprocess.resample import output_length, resample_range

    x = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (2, 3000)).astype(np.float32))
    whole = resample(x, orig, new)
    n = output_length(3000, orig, new)
    assert whole.shape[-1] == n

    def read(lo: int, hi: int) -> torch.Tensor:
        padded = torch.nn.functional.pad(x, (10_000, 10_000))
        return padded[:, lo + 10_000 : hi + 10_000]

    for a, b in [(0, n), (0, 1), (n - 1, n), (n // 3, n // 2), (17, min(n, 500))]:
        got = resample_range(read, orig, new, a, b)
        torch.testing.assert_close(got, whole[:, a:b], rtol=0, atol=1e-6)


RATES = [8000, 11025, 22050, 32000, 44100, 48000, 96000, 88200, 24000]


@pytest.mark.parametrize(
    ("orig", "new"),
    [(r, 16000) for r in RATES]
    + [(16000, r) for r in (8000, 11025, 22050, 44100, 48000)]
    + [(44100, 48000), (48000, 44100)],
)
def test_grouped_phases_equal_the_full_convolution(monkeypatch, orig: int, new: int):
    """Grouping skips only taps outside |t| < 6 (1.7e-24 after rounding): summation order only."""
    from openbind.preprocess import resample as module

    g = math.gcd(orig, new)
    grouped = module.grouped_filter(orig // g, new // g)
    if orig in (11025, 22050, 44100, 88200) or new in (11025, 22050, 44100):
        assert grouped is not None  # long kernels: the grouped evaluation is what runs
    rng = np.random.default_rng(orig + new)
    xs = [rng.uniform(-1, 1, (b, n)).astype(np.float32) for b, n in ((1, 5), (2, 700), (1, 9001))]
    got = [resample(torch.from_numpy(x), orig, new) for x in xs]
    monkeypatch.setattr(module, "GROUP", 1 << 30)  # every rate pair: one strided convolution
    module.grouped_filter.cache_clear()
    try:
        for x, y in zip(xs, got, strict=True):
            want = resample(torch.from_numpy(x), orig, new)
            torch.testing.assert_close(y, want, rtol=0, atol=5e-7)  # measured <= 2.4e-7
    finally:
        module.grouped_filter.cache_clear()


def test_grouped_filter_holds_every_tap_inside_the_window():
    from openbind.preprocess.resample import GROUP, grouped_filter

    kernel, _ = sinc_kernel(441, 160)
    grouped = grouped_filter(441, 160)
    assert grouped is not None and grouped.weights.shape == (10, grouped.span, GROUP)
    assert grouped.span < 80  # 34 non-zero taps per phase, 16 phases 2.76 samples apart
    taps = kernel[:, 0]
    edge = taps[0, 0]  # the clamped |t| = 6 value every dropped tap has
    assert 0 < edge < 1e-23
    rebuilt = torch.full_like(taps, float(edge))
    for p in range(160):
        g, j = divmod(p, GROUP)
        a = grouped.offset + g * grouped.step
        window = grouped.weights[g, :, j]
        inside = window != 0
        cols = torch.arange(a, a + grouped.span)[inside]
        rebuilt[p, cols] = window[inside]
    assert torch.equal(rebuilt, taps)
    assert grouped_filter(3, 1) is None and grouped_filter(1, 2) is None  # short kernels: conv
