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
