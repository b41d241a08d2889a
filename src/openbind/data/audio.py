"""Raw-waveform input for towers with their own spectrogram stem (`wave_audio` towers)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openbind.errors import BadInput, DecodeError


def read_waveform(item: Any) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate from a sound file path, bytes, or `(array, rate)`.

    Raises:
        BadInput: missing file or unusable item.
        DecodeError: the file is not a readable sound file.
    """
    if isinstance(item, tuple) and len(item) == 2:
        wave, rate = np.asarray(item[0], dtype=np.float32), int(item[1])
    else:
        import soundfile

        if isinstance(item, (str, Path)):
            if not Path(item).is_file():
                raise BadInput("no such sound file", source=item)
            source: Any = str(item)
        elif isinstance(item, (bytes, bytearray)):
            source = io.BytesIO(item)
        else:
            raise BadInput(f"cannot read a waveform from {type(item).__name__}")
        try:
            wave, rate = soundfile.read(source, dtype="float32", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError) as e:
            raise DecodeError(f"not a readable sound file ({e})", source=item) from None
        wave = wave.mean(axis=1)
    if wave.ndim != 1 or wave.size == 0:
        raise DecodeError(
            f"expected a non-empty mono waveform, got shape {wave.shape}",
            source=type(item).__name__,
        )
    return wave, rate


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear-interpolation resampling (enough for the low-bandwidth training sounds)."""
    if rate == target:
        return wave
    n = round(len(wave) * target / rate)
    return np.interp(np.linspace(0, len(wave) - 1, n), np.arange(len(wave)), wave).astype(
        np.float32
    )


class WaveformTransform:
    """Item -> (1, rate * seconds) float32 mono waveform, cropped at the start or zero-padded.

    Args:
        sample_rate: rate of the output.
        seconds: length of the output.
    """

    def __init__(self, sample_rate: int, seconds: float) -> None:
        self.sample_rate = sample_rate
        self.length = int(sample_rate * seconds)

    def __call__(self, item: Any) -> torch.Tensor:
        wave, rate = read_waveform(item)
        wave = resample(wave, rate, self.sample_rate)[: self.length]
        out = np.zeros(self.length, dtype=np.float32)
        out[: len(wave)] = wave
        return torch.from_numpy(out).unsqueeze(0)  # (1, samples)
