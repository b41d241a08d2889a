"""Band-limited resampling equal to torchaudio's default `torchaudio.functional.resample`.

Windowed-sinc interpolation with a Hann window (`sinc_interp_hann`), `lowpass_filter_width=6`,
`rolloff=0.99` (Smith, "Digital Audio Resampling", https://ccrma.stanford.edu/~jos/resample/).
Rates are reduced by their gcd, so 44.1 kHz -> 16 kHz uses 160 phases of a filter applied every
441 input samples (a polyphase filter). The output has `ceil(new_rate * n / orig_rate)` samples.

torchaudio evaluates the filter bank as one strided convolution with a (new, 1, 2 * width + orig)
kernel, but each phase's taps are non-zero only where |t| < 6 (34 of 475 taps for 44.1 kHz ->
16 kHz); elsewhere the window is zero up to float32 rounding (its clamped value at |t| = 6 is
1.7e-24). When that saves work, phases are evaluated in groups of `GROUP` consecutive phases, each
group one matrix product over the short input window its taps touch (a strided view, no copy).
The dropped taps change an output by at most 1.7e-24 times the sum of |x| over one kernel; the
kept products are summed in sgemm's order instead of the convolution's: on the golden 44.1 kHz file
the waveform is the convolution's up to 4e-28, on random [-1, 1] signals within 2.4e-7 (tested
for 8 - 96 kHz -> 16 kHz and upsampling).

Rates whose reduced form would need a filter bank of more than `MAX_KERNEL` coefficients (for
example 12345 Hz -> 16 kHz: 3200 phases x 2483 taps) are resampled by evaluating the same
windowed sinc at each output sample instead (float64 filter, equal up to rounding).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99
MAX_KERNEL = 1 << 22
"""Largest polyphase filter bank (coefficients) built; larger ones use the direct evaluation."""
_CHUNK = 1 << 21  # outputs x taps evaluated at once by the direct evaluation
GROUP = 16
"""Phases per matrix product of the grouped evaluation. Multiples of 16 keep the sgemm kernel the
convolution uses (8 took another path, 3.6e-7 off); fewer, longer groups touch more zero taps."""


def _phase_times(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """(new, 1, 2 * width + orig) float32 filter arguments t * base (unclamped), and `width`."""
    base = min(orig, new) * ROLLOFF
    width = _width(orig, new)
    idx = torch.arange(-width, width + orig, dtype=torch.float32)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new + idx
    t *= base
    return t, width


@functools.lru_cache(maxsize=32)
def sinc_kernel(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """Polyphase filter bank for gcd-reduced rates `orig` -> `new`, as torchaudio builds it.

    Returns:
        The float32 kernel (new, 1, 2 * width + orig), one row per output phase, and `width`,
        the number of input samples of context on each side. Cached; do not modify it.
    """
    base = min(orig, new) * ROLLOFF
    t, width = _phase_times(orig, new)
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
    shape = waveform.shape
    x = waveform.reshape(-1, shape[-1])  # (B, n)
    n = shape[-1]

    def read(lo: int, hi: int) -> torch.Tensor:
        return torch.nn.functional.pad(
            x[:, max(lo, 0) : max(min(hi, n), 0)], (max(-lo, 0), max(hi - max(n, lo), 0))
        )

    y = resample_range(read, orig_rate, new_rate, 0, output_length(n, orig_rate, new_rate))
    return y.reshape(*shape[:-1], y.shape[-1])


def output_length(n: int, orig_rate: int, new_rate: int) -> int:
    """Samples after resampling `n` samples: ceil(new_rate * n / orig_rate)."""
    return -(-new_rate * n // orig_rate)


def resample_range(
    read: Callable[[int, int], torch.Tensor], orig_rate: int, new_rate: int, start: int, stop: int
) -> torch.Tensor:
    """Output samples [start, stop) of `resample`, reading only the input they depend on.

    Args:
        read: `read(lo, hi)` returns input samples [lo, hi) as (B, hi - lo) float32, with zeros
            outside the signal (lo may be negative, hi past the end). It is called once, with
            `input_range(orig_rate, new_rate, start, stop)`.
        orig_rate: input sample rate.
        new_rate: output sample rate.
        start: first output sample.
        stop: one past the last output sample.

    Returns:
        (B, stop - start) float32, equal to `resample(x)[:, start:stop]`.
    """
    lo, hi = input_range(orig_rate, new_rate, start, stop)
    x = read(lo, hi)
    if orig_rate == new_rate:
        return x
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    width = _width(orig, new)
    if new * (2 * width + orig) > MAX_KERNEL:
        return _direct(x, lo, orig, new, start, stop)
    first, last = start // new, (stop - 1) // new  # blocks of `new` outputs, `orig` inputs apart
    groups = grouped_filter(orig, new)
    if groups is None:
        y = _polyphase(x, orig, new)  # (B, (last - first + 1) * new)
    else:
        left = groups.padding(2 * width + orig)[0]
        y = _grouped(x, groups, left, last - first + 1, orig, new)
    return y[:, start - first * new : stop - first * new]


def input_range(orig_rate: int, new_rate: int, start: int, stop: int) -> tuple[int, int]:
    """The input samples [lo, hi) that output samples [start, stop) of `resample` depend on
    (as `resample_range` reads them: lo may be negative and hi past the end)."""
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {new_rate}")
    if orig_rate == new_rate:
        return start, stop
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    width = _width(orig, new)
    if new * (2 * width + orig) > MAX_KERNEL:
        return (start * orig) // new - width, ((stop - 1) * orig) // new + width + 2
    first, last = start // new, (stop - 1) // new
    groups = grouped_filter(orig, new)
    left, right = (0, 0) if groups is None else groups.padding(2 * width + orig)
    return first * orig - width - left, last * orig + orig + width + right


def _width(orig: int, new: int) -> int:
    """Input samples of filter context on each side (gcd-reduced rates)."""
    return math.ceil(LOWPASS_FILTER_WIDTH * orig / (min(orig, new) * ROLLOFF))


@dataclass(frozen=True)
class GroupedFilter:
    """The non-zero taps of a polyphase filter bank, `GROUP` phases at a time.

    Group g's window starts `offset + g * step` samples into a block's kernel extent (the kernel
    row's first tap) and is `span` samples long; `weights[g, s, j]` is the tap of phase
    `g * GROUP + j` at window position s (0 outside |t| < 6 and for phases past the last).
    """

    weights: torch.Tensor  # (groups, span, GROUP)
    offset: int
    step: int
    span: int

    def padding(self, extent: int) -> tuple[int, int]:
        """Input samples the windows need before and after a block's kernel extent."""
        groups = self.weights.shape[0]
        return max(-self.offset, 0), max(
            self.offset + (groups - 1) * self.step + self.span - extent, 0
        )


@functools.lru_cache(maxsize=32)
def grouped_filter(orig: int, new: int) -> GroupedFilter | None:
    """The grouped filter for gcd-reduced rates, or None when it would not save work.

    Cached; do not modify it.
    """
    if new < GROUP:
        return None
    kernel, _ = sinc_kernel(orig, new)
    taps = kernel[:, 0]  # (new, extent)
    inside = _phase_times(orig, new)[0][:, 0].abs() < LOWPASS_FILTER_WIDTH  # (new, extent)
    cols = torch.arange(taps.shape[1])
    lo = torch.where(inside, cols, taps.shape[1]).amin(1).tolist()  # first non-zero tap per phase
    hi = (torch.where(inside, cols, -1).amax(1) + 1).tolist()
    count = -(-new // GROUP)
    starts = [min(lo[g * GROUP : (g + 1) * GROUP]) for g in range(count)]
    ends = [max(hi[g * GROUP : (g + 1) * GROUP]) for g in range(count)]
    step = (starts[-1] - starts[0]) // max(count - 1, 1)
    offset = min(s - g * step for g, s in enumerate(starts))
    span = max(e - offset - g * step for g, e in enumerate(ends))
    if count * span * GROUP * 2 > taps.numel():  # not at least twice less work
        return None
    weights = torch.zeros(count, span, GROUP)
    masked = torch.where(inside, taps, 0.0)
    for p in range(new):
        g, j = divmod(p, GROUP)
        a = offset + g * step  # window start within the kernel extent
        lo_k, hi_k = max(a, 0), min(a + span, taps.shape[1])
        weights[g, lo_k - a : hi_k - a, j] = masked[p, lo_k:hi_k]
    return GroupedFilter(weights, offset, step, span)


def _grouped(
    x: torch.Tensor, groups: GroupedFilter, left: int, blocks: int, orig: int, new: int
) -> torch.Tensor:
    """The polyphase filter on `blocks` blocks, one matrix product per group of phases.

    `x` (B, n) holds `left` extra samples before the first block's kernel extent and enough after
    the last one for every window (`GroupedFilter.padding`).
    """
    x = x.contiguous()
    count = groups.weights.shape[0]
    windows = x.as_strided(  # (B, groups, blocks, span): window of group g in block b
        (x.shape[0], count, blocks, groups.span),
        (x.stride(0), groups.step, orig, 1),
        x.storage_offset() + left + groups.offset,
    )
    y = torch.matmul(windows, groups.weights)  # (B, groups, blocks, GROUP)
    y = y.transpose(1, 2).reshape(x.shape[0], blocks, count * GROUP)[:, :, :new]
    return y.reshape(x.shape[0], blocks * new)  # phases interleaved as the convolution's


def _polyphase(x: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """torchaudio's evaluation: all phases as the channels of one strided conv1d.

    `x` already holds the `width` samples of context before the first block and after the last.
    """
    kernel, _ = sinc_kernel(orig, new)
    y = torch.nn.functional.conv1d(x[:, None], kernel, stride=orig)  # (B, new, blocks)
    return y.transpose(1, 2).reshape(x.shape[0], -1)  # (B, blocks * new), phases interleaved


def _direct(
    x: torch.Tensor, offset: int, orig: int, new: int, start: int, stop: int
) -> torch.Tensor:
    """y[j] = sum_i x[i] h((i / orig - j / new) * base) for j in [start, stop).

    `x` holds input samples from index `offset` on, covering every tap of those outputs.
    """
    base = min(orig, new) * ROLLOFF
    width = _width(orig, new)
    offsets = torch.arange(-width, width + 2)  # taps around floor(j * orig / new)
    out = torch.empty(x.shape[0], stop - start)
    step = max(1, _CHUNK // len(offsets))
    for first in range(start, stop, step):
        j = torch.arange(first, min(first + step, stop))[:, None]  # (J, 1)
        i = (j * orig) // new + offsets  # (J, taps) input indices
        # i / orig - j / new with an exact integer numerator
        t = ((i * new - j * orig).double() / (orig * new) * base).clamp_(
            -LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH
        )
        h = torch.sinc(t) * torch.cos(t * math.pi / LOWPASS_FILTER_WIDTH / 2) ** 2 * (base / orig)
        taps = x[:, i - offset]  # (B, J, taps)
        out[:, first - start : first - start + j.shape[0]] = (taps * h.float()).sum(-1)
    return out
