"""Band-limited resampling equal to torchaudio's default `torchaudio.functional.resample`.

Windowed-sinc interpolation with a Hann window (`sinc_interp_hann`), `lowpass_filter_width=6`,
`rolloff=0.99` (Smith, "Digital Audio Resampling", https://ccrma.stanford.edu/~jos/resample/).
Rates are reduced by their gcd, so 44.1 kHz -> 16 kHz uses 160 phases of a filter applied every
441 input samples (a polyphase filter: one strided convolution). The output has
`ceil(new_rate * n / orig_rate)` samples.
"""

from __future__ import annotations

import functools
import math

import torch

LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99


@functools.lru_cache(maxsize=32)
def sinc_kernel(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """Polyphase filter bank for gcd-reduced rates `orig` -> `new`, as torchaudio builds it.

    Returns:
        The float32 kernel (new, 1, 2 * width + orig), one row per output phase, and `width`,
        the number of input samples of context on each side. Cached; do not modify it.
    """
    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_FILTER_WIDTH * orig / base)
    idx = torch.arange(-width, width + orig, dtype=torch.float32)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new + idx
    t *= base
    t = t.clamp_(-LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH)
    window = torch.cos(t * math.pi / LOWPASS_FILTER_WIDTH / 2) ** 2
    t *= math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0), t.sin() / t)
    kernel *= window * (base / orig)
    return kernel, width


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Resample the last dimension of `waveform` from `orig_rate` to `new_rate` (Hz).

    Args:
        waveform: (..., n) float32 samples.
        orig_rate: sample rate of `waveform`.
        new_rate: wanted sample rate.

    Returns:
        (..., ceil(new_rate * n / orig_rate)) float32; `waveform` itself when the rates are equal.
    """
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {new_rate}")
    if orig_rate == new_rate:
        return waveform
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    kernel, width = sinc_kernel(orig, new)
    shape = waveform.shape
    x = waveform.reshape(-1, 1, shape[-1])  # (B, 1, n)
    x = torch.nn.functional.pad(x, (width, width + orig))
    y = torch.nn.functional.conv1d(x, kernel, stride=orig)  # (B, new, frames)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)  # (B, frames * new), phases interleaved
    length = -(-new * shape[-1] // orig)
    return y[:, :length].reshape(*shape[:-1], length)
