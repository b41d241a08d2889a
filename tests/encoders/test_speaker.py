import importlib.util
import shutil

import numpy as np
import pytest
import torch

from openbind.encoders.experts.speaker import (
    PARTIAL_FRAMES,
    SpeakerFrontEnd,
    SpeakerTower,
    load_speaker_tower,
    mel_filterbank,
)
from openbind.errors import CheckpointMismatch

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("resemblyzer") is None,
    reason="pip install --no-deps resemblyzer (the speaker weights)",
)


def test_mel_filterbank_is_slaney_triangles():
    fb = mel_filterbank()
    assert fb.shape == (40, 201)
    assert (fb >= 0).all()
    peaks = fb.argmax(1)
    assert (peaks[1:] >= peaks[:-1]).all()  # centres rise
    # Slaney normalisation: each triangle has area ~ 1 (in Hz, 40 Hz bins)
    area = fb.sum(1) * 40.0
    assert torch.allclose(area[5:], torch.ones(35), atol=0.12)


def test_partials_follow_resemblyzers_slicing():
    fe = SpeakerFrontEnd()
    # 3 s at 16 kHz: 301 frames, step 77 -> slices at 0, 77, 154; the last covers
    # (48000 - 24640) / 25600 = 0.91 >= 0.75 and is kept
    assert fe.partials(torch.zeros(48000) + 0.01).shape == (3, PARTIAL_FRAMES, 40)
    assert fe.partials(torch.zeros(8000) + 0.01).shape == (1, PARTIAL_FRAMES, 40)  # short: one
    sr = 16000
    tone = torch.sin(2 * torch.pi * 1000 * torch.arange(sr * 2) / sr)
    mel = fe.mel(tone)
    assert mel.shape == (201, 40)
    band = int(mel[50].argmax())
    # Slaney mel of 1 kHz is 15, of 8 kHz 45.25: band centres (i + 1) * 45.25 / 41 -> band 13
    assert band == 13


def test_bad_checkpoint_names_the_key(tmp_path):
    state = SpeakerTower().state_dict()
    del state["lstm.weight_hh_l2"]
    torch.save({"model_state": state}, tmp_path / "p.pt")
    with pytest.raises(CheckpointMismatch, match=r"lstm\.weight_hh_l2"):
        load_speaker_tower(tmp_path / "p.pt")


@needs_weights
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_speaker_encoder_tells_voices_apart(tmp_path):
    """Two readings by one voice are closer than readings by two voices (6 voices)."""
    import openbind as ob
    from openbind.data.voices import say, speakers

    space = ob.load("resemblyzer_speaker.v1")
    assert space.dim == 256
    people = speakers(6, seed=3)
    waves = []
    for k, who in enumerate(people):
        for text in ("the red car is near the big tree", "a small dog sleeps on a blue mat"):
            waves.append((say(text, who, rng=np.random.default_rng(k)), 16000))
    e = space.encode("audio", waves).vectors.view(6, 2, 256)
    same = (e[:, 0] * e[:, 1]).sum(-1)  # (6,)
    cross = e[:, 0] @ e[:, 1].T
    hits = sum(int(cross[i].argmax()) == i for i in range(6))
    assert hits >= 5, (same, cross)  # chance: 1 of 6


def test_front_end_matches_librosa_compatible_reference():
    """transformers.audio_utils reimplements librosa's mel filters and spectrogram (its tests pin
    them to librosa): our filters and power mel spectrogram agree with them."""
    audio_utils = pytest.importorskip("transformers.audio_utils")
    ref = audio_utils.mel_filter_bank(
        num_frequency_bins=201,
        num_mel_filters=40,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=16000,
        norm="slaney",
        mel_scale="slaney",
    )  # (201, 40)
    np.testing.assert_allclose(mel_filterbank().numpy(), ref.T, atol=1e-8)
    x = np.random.default_rng(0).normal(size=16000) * 0.1
    spec = audio_utils.spectrogram(
        x,
        audio_utils.window_function(400, "hann"),
        frame_length=400,
        hop_length=160,
        power=2.0,
        center=True,
        pad_mode="constant",
        mel_filters=ref,
    )  # (40, frames)
    ours = SpeakerFrontEnd().mel(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, spec.T, rtol=0, atol=1e-6 * np.abs(spec).max())
