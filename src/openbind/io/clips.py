"""Clip sampling: which time spans of a recording become model clips (video, audio, IMU).

One policy for every time-based modality, ImageBind's (pytorchvideo's
`ConstantClipsPerVideoSampler`): `count` clips of `clip` seconds spread evenly, clip k starting
at `k * max(duration - clip, 0) / max(count - 1, 1)`, in exact `Fraction`s of the float
duration; recordings shorter than a clip get `count` identical clips `[0, clip]` (the caller
pads). Optionally a sliding window: a clip every `stride` seconds, the last one ending at the
end, falling back to `max_clips` evenly spaced clips when it would need more.

Example:
    >>> clip_spans(3.0, Fraction(2), 5)[1]
    (Fraction(1, 4), Fraction(9, 4))
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["ClipSpan", "clip_spans", "sample_slices"]

ClipSpan = tuple[Fraction, Fraction]
"""Start and end of one clip, in seconds."""


def clip_spans(
    duration: float,
    clip: Fraction,
    count: int,
    *,
    stride: Fraction | None = None,
    max_clips: int | None = None,
) -> tuple[ClipSpan, ...]:
    """Start and end (seconds, exact) of the clips of a recording of `duration` seconds.

    Args:
        duration: length of the recording (float seconds, as the reference computes it).
        clip: seconds per clip.
        count: evenly spaced clips (ignored when `stride` is set and the window fits).
        stride: a sliding window: a clip every `stride` seconds, the last one ending at the end.
        max_clips: cap on the sliding window's clips; more would give `max_clips` evenly spaced.
    """
    last_start = Fraction(max(duration - clip, 0))  # float arithmetic, as the reference
    if stride is not None:
        needed = 1 + math.ceil(last_start / stride)
        if max_clips is None or needed <= max_clips:
            return tuple(
                (s, s + clip) for s in (min(k * stride, last_start) for k in range(needed))
            )
        count = max_clips
    step = Fraction(last_start, max(count - 1, 1))
    return tuple((step * k, step * k + clip) for k in range(count))


def sample_slices(spans: list[ClipSpan] | tuple[ClipSpan, ...], rate: int) -> list[tuple[int, int]]:
    """Sample index ranges `[int(start * rate), int(end * rate))` of clip spans."""
    return [(int(s * rate), int(e * rate)) for s, e in spans]
