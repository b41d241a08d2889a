"""The GE2E speaker encoder of Resemblyzer (Wan et al., "Generalized End-to-End Loss for Speaker
Verification", 2018), with openbind's own audio front end.

Weights: `pretrained.pt` inside the `resemblyzer` wheel (Apache-2.0); `pip install --no-deps
resemblyzer` is enough, its dependencies (librosa, webrtcvad) are not needed. The front end
follows the package's settings: 16 kHz mono, volume raised to -30 dBFS (never lowered), a
power mel spectrogram (not log) with 40 Slaney mel bands from a 25 ms Hann window every 10 ms
(librosa's `melspectrogram` defaults: centred frames, zero padding), cut into partials of 160
frames (1.6 s) at 1.3 partials per second, the last kept if it covers 75 %. Each partial runs
through a 3-layer LSTM (256) -> Linear(256) -> ReLU; the unit partial vectors are averaged and
renormalised. Resemblyzer's voice-activity trimming (webrtcvad) is not reproduced.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from openbind.errors import CheckpointMismatch, MissingExtra
from openbind.io.audio import load_audio
from openbind.preprocess.resample import resample

SAMPLE_RATE = 16000
N_MELS = 40
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
PARTIAL_FRAMES = 160
PARTIAL_RATE = 1.3
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log = f >= 1000.0
    mel[log] = 15.0 + np.log(f[log] / 1000.0) / (math.log(6.4) / 27.0)
    return mel


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f = m * (200.0 / 3)
    log = m >= 15.0
    f[log] = 1000.0 * np.exp((math.log(6.4) / 27.0) * (m[log] - 15.0))
    return f


def mel_filterbank(
    sample_rate: int = SAMPLE_RATE, n_fft: int = WINDOW, n_mels: int = N_MELS
) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular Slaney-normalised mel filters (librosa's default)."""
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(
        np.linspace(
            _hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sample_rate / 2]))[0], n_mels + 2
        )
    )
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


class SpeakerFrontEnd:
    """Audio item -> (S, 160, 40) mel partials of the speaker encoder."""

    def __init__(self) -> None:
        self.filters = mel_filterbank()
        self.window = torch.hann_window(WINDOW, periodic=True, dtype=torch.float64)

    def __call__(self, item: Any) -> torch.Tensor:
        wave = load_audio(item, sample_rate=SAMPLE_RATE)  # raises BadInput naming the item
        mono = torch.from_numpy(wave.samples).float().mean(dim=0)
        mono = resample(mono, wave.sample_rate, SAMPLE_RATE).double()
        return self.partials(normalize_volume(mono))

    def mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(frames, 40) power mel spectrogram of a 16 kHz waveform."""
        spec = (
            torch.stft(
                wave.double(),
                WINDOW,
                HOP,
                window=self.window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            ).abs()
            ** 2
        )  # (201, frames)
        return (self.filters.double() @ spec).T.float()

    def partials(self, wave: torch.Tensor) -> torch.Tensor:
        """Cut the waveform into partial utterances, as Resemblyzer's `embed_utterance`."""
        n = wave.shape[0]
        n_frames = int(np.ceil((n + 1) / HOP))
        step = int(np.round((SAMPLE_RATE / PARTIAL_RATE) / HOP))
        starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
        last = starts[-1] * HOP
        coverage = (n - last) / (PARTIAL_FRAMES * HOP)
        if coverage < MIN_COVERAGE and len(starts) > 1:
            starts = starts[:-1]
        need = (starts[-1] + PARTIAL_FRAMES) * HOP
        if need >= n:
            wave = torch.nn.functional.pad(wave, (0, need - n))
        mel = self.mel(wave)  # (frames, 40)
        return torch.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])  # (S, 160, 40)


def normalize_volume(wave: torch.Tensor, target_dbfs: float = TARGET_DBFS) -> torch.Tensor:
    """Raise the level to `target_dbfs` (RMS re. full scale); louder audio is left alone."""
    int16_max = 2**15 - 1
    rms = torch.sqrt(torch.mean((wave * int16_max) ** 2))
    if rms <= 0:
        return wave
    change = target_dbfs - 20 * torch.log10(rms / int16_max)
    return wave if change < 0 else wave * 10 ** (change / 20)


class SpeakerTower(nn.Module):
    """(S, 160, 40) mel partials -> (S, 256) unit speaker vectors (GE2E LSTM)."""

    def __init__(self, hidden: int = 256, layers: int = 3, dim: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, dim)
        self.logit_scale = 1.0

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)  # hidden: (layers, S, 256)
        out = torch.relu(self.linear(hidden[-1]))  # (S, 256)
        return out / out.norm(dim=1, keepdim=True).clamp_min(1e-12)


def resemblyzer_weights() -> Path:
    """Path of `pretrained.pt` in the installed `resemblyzer` wheel (the package is not imported).

    Raises:
        MissingExtra: the wheel is not installed.
    """
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra(
            "the speaker encoder's weights ship in the resemblyzer wheel; install it with: "
            "pip install --no-deps resemblyzer==0.1.4 (or pip install 'openbind[speaker]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise MissingExtra(f"resemblyzer is installed but {path} is missing; reinstall it")
    return path


def load_speaker_tower(path: str | Path | None = None) -> SpeakerTower:
    """The speaker tower with Resemblyzer's weights (`model_state` of `pretrained.pt`).

    Raises:
        MissingExtra: no path given and the wheel is not installed.
        CheckpointMismatch: the file lacks a tower key or has one of the wrong shape (named).
    """
    path = Path(path) if path is not None else resemblyzer_weights()
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("model_state", checkpoint)
    tower = SpeakerTower()
    own = tower.state_dict()
    for k, v in own.items():
        if k not in state:
            raise CheckpointMismatch(f"{path}: missing key {k!r} of the speaker encoder")
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointMismatch(
                f"{path}: key {k!r} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}"
            )
    tower.load_state_dict({k: state[k] for k in own})  # GE2E's similarity_* are training-only
    return tower.eval()
