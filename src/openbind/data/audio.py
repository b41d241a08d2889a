"""Raw-waveform input for towers with their own spectrogram stem (`wave_audio` towers)."""

from __future__ import annotations

from typing import Any

import torch

from openbind.io.audio import load_audio
from openbind.preprocess.resample import resample


class WaveformTransform:
    """Item -> (1, rate * seconds) float32 mono waveform: channels averaged, resampled, cropped at
    the start or zero-padded at the end.

    Args:
        sample_rate: rate of the output.
        seconds: length of the output.
    """

    def __init__(self, sample_rate: int, seconds: float) -> None:
        self.sample_rate = sample_rate
        self.length = int(sample_rate * seconds)

    def __call__(self, item: Any) -> torch.Tensor:
        wave = load_audio(item)  # raises BadInput / DecodeError naming the item
        mono = torch.from_numpy(wave.samples).float().mean(dim=0)  # (n,)
        mono = resample(mono, wave.sample_rate, self.sample_rate)[: self.length]
        out = torch.zeros(self.length)
        out[: mono.shape[0]] = mono
        return out.unsqueeze(0)  # (1, samples)
