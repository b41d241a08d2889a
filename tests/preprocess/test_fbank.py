"""Kaldi fbank: batching, frame counts, filter bank shape."""

from __future__ import annotations

import math

import torch

from openbind.preprocess.fbank import frame_count, log_mel_fbank, mel, mel_filters


def test_batched_equals_one_clip_at_a_time():
    gen = torch.Generator().manual_seed(0)
    clips = [torch.randn(n, generator=gen) for n in (32000, 16000, 399, 400, 561)]
    together = log_mel_fbank(clips)
    for clip, feats in zip(clips, together, strict=True):
        (alone,) = log_mel_fbank([clip])
        assert feats.shape == (frame_count(clip.shape[0], 400, 160), 128)
        torch.testing.assert_close(feats, alone, rtol=0, atol=1e-5)
    assert [f.shape[0] for f in together] == [198, 98, 0, 1, 2]


def test_strided_views_are_read_correctly():
    wave = torch.randn(40000, 2)  # (samples, channels): a channel is a stride-2 view
    (a,) = log_mel_fbank([wave[1000:33000, 1]])
    (b,) = log_mel_fbank([wave[1000:33000, 1].contiguous()])
    assert torch.equal(a, b)


def test_mel_filters():
    filters = mel_filters(128, 512, 16000.0)
    assert filters.shape == (128, 257)
    assert torch.all(filters[:, -1] == 0) and torch.all(filters >= 0)
    # first filter rises from 20 Hz; the last one ends at Nyquist
    centres = filters.argmax(dim=1).float() * 16000 / 512
    assert 20 < centres[0] < 100 and 7000 < centres[-1] < 8000
    assert mel(700.0) == 1127.0 * math.log(2.0)


def test_silence_is_log_eps():
    (feats,) = log_mel_fbank([torch.zeros(1600)])
    assert torch.equal(feats, torch.full((8, 128), math.log(torch.finfo(torch.float32).eps)))


def _dense_fbank(clip: torch.Tensor) -> torch.Tensor:
    """One clip as torchaudio computes it: dense |rfft|^2 @ filters.T."""
    frames = clip.unfold(0, 400, 160)
    frames = frames - frames.mean(dim=1, keepdim=True)
    prev = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = (frames - 0.97 * prev) * torch.hann_window(400, periodic=False)
    power = torch.fft.rfft(frames, n=512).abs().pow(2)
    energies = power @ mel_filters(128, 512, 16000.0).T
    return torch.max(energies, torch.tensor(torch.finfo(torch.float32).eps)).log()


def test_banded_filters_equal_a_dense_filter_bank():
    gen = torch.Generator().manual_seed(1)
    for scale in (1.0, 1e-2, 3e-5):  # loud to near-silent (16-bit dither level)
        clips = [scale * torch.randn(16000, generator=gen), scale * torch.sin(torch.arange(9000.0))]
        for clip, feats in zip(clips, log_mel_fbank(clips), strict=True):
            torch.testing.assert_close(
                feats, _dense_fbank(clip), rtol=0, atol=2e-6
            )  # measured 9.5e-7


def test_bands_hold_every_filter_coefficient():
    from openbind.preprocess.fbank import _banded_filters

    for num_bins, fft_size, rate in ((128, 512, 16000.0), (40, 256, 8000.0), (200, 512, 16000.0)):
        filters = mel_filters(num_bins, fft_size, rate)
        dense = torch.zeros(2 * filters.shape[1], num_bins)  # (re^2, im^2) rows per FFT bin
        for a, b, lo, hi, weights in _banded_filters(num_bins, fft_size, rate):
            dense[lo:hi, a:b] = weights.T
        assert torch.equal(dense[0::2].T, filters) and torch.equal(dense[1::2].T, filters)
