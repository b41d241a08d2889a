"""Video decoding with PyAV: pick clip time points and decode only the frames they need.

ImageBind's loader (pytorchvideo + decord) reads a video as `N` frames at the stream's average
frame rate `fps`, `duration = N / fps`, and for each clip `[s, e)` takes frame indices
`ceil(fps * s) ... min(ceil(fps * e), N) - 1`, then a uniform temporal subsample of them (for 2
frames: the first and the last). `clip_timepoints` and `clip_frame_indices` reproduce that with
the same `Fraction` arithmetic.

Decoding is seek-based: one demux pass (no decoding) lists every frame's presentation time and
the keyframes. Wanted frames are grouped by the last keyframe at or before them; each group is
decoded from its keyframe (sought by pts, then by dts) up to the packet of its last wanted
frame, then the decoder is drained, so nothing past the last wanted frame is decoded. For H.264
(and HEVC with one temporal layer), packets of frames that are not wanted are decoded with
`skip_frame="NONREF"`: a non-reference frame is never used to predict another, so dropping it
leaves every other frame bit-identical (on x264's default 250-frame GOPs this skips about 40%
of the decoding). Each decoder runs on one thread; when the groups hold at least
`_HELPER_MIN_FRAMES` frames of work, a helper thread decodes about half of them on a second
container of the same file (same CPU time, about half the wall time when a core is free). Only
the wanted frames are converted to RGB. The result is identical to decoding every frame (tests
check it on videos with B-frames and b-pyramids, short and long GOPs, interlacing, HEVC and
variable frame rate); a group that comes out incomplete is decoded again without skipping, and
if a container seeks imprecisely (lands after the keyframe, or the frame is missing) the whole
video is decoded sequentially instead.

Frame timing (`frame_timing`):
* "index": the reference's constant-frame-rate index arithmetic (parity);
* "pts": each frame's own presentation time: clip `[s, e)` holds the frames shown in it, which is
  what variable-frame-rate videos (phone recordings) need;
* "auto" (default): "index" when the frame times are evenly spaced (within a time-base tick or
  5%, so 29.97 fps stored with millisecond timestamps still counts), else "pts". The two agree
  on constant-frame-rate videos, so the default keeps parity there.

Pixel limit: frames larger than `max_pixels` (default `openbind.limits.DEFAULT_MAX_VIDEO_PIXELS`,
16.8 MP) raise `LimitExceeded` from the stream header, before any decoding, and FFmpeg's own
`max_pixels` option makes the decoder refuse larger frames when the header understates them.

Rotation: phone videos store a display matrix; with `apply_rotation=True` (default) frames are
turned and mirrored the way FFmpeg's autorotate shows them (multiples of 90 degrees, horizontal
and vertical flips).
The reference (decord) ignores it; pass False for strict parity.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Any

import numpy as np
import torch

from openbind.errors import BadInput, DecodeError
from openbind.io.clips import clip_spans
from openbind.io.sources import Source, to_source
from openbind.limits import DEFAULT_MAX_VIDEO_PIXELS, check_limit

__all__ = [
    "FRAME_TIMINGS",
    "FrameFn",
    "VideoClips",
    "VideoInfo",
    "clip_frame_indices",
    "clip_timepoints",
    "decode_all_frames",
    "load_video_clips",
    "probe_video",
    "read_frames",
]

FRAME_TIMINGS = ("auto", "index", "pts")
FrameFn = Callable[[np.ndarray], np.ndarray]
"""What a caller does to each decoded (H, W, 3) uint8 RGB frame (`load_video_clips`)."""
_NO_PROTOCOL = "none"  # a name no FFmpeg protocol has: nested opens are refused
_MAX_STREAMS = 64  # per-stream probing options are given for this many streams
# Below this many frames to decode (summed over keyframe groups), a helper thread costs more
# than it saves.
_HELPER_MIN_FRAMES = 120
# Above this many pixels a frame, no helper thread: its decoder's reference frames would double
# the memory of the largest videos (4K: about 12 MB a frame).
_HELPER_MAX_PIXELS = 1920 * 1080


@dataclass(frozen=True)
class VideoInfo:
    """What one demux pass tells about a video stream.

    Attributes:
        num_frames: frames in the stream (packets with a timestamp).
        fps: average frame rate (frames per second) as the container states it.
        duration: `num_frames / fps` seconds (the reference's definition).
        width: coded frame width in pixels (before rotation).
        height: coded frame height in pixels.
        times: presentation time of each frame in seconds from the first frame, in display
            order (exact `Fraction`s of the stream time base).
        constant_rate: whether the frame times are evenly spaced (steps differ by at most one
            time-base tick or 5%, which absorbs timestamps rounded to milliseconds).
    """

    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    times: tuple[Fraction, ...]
    constant_rate: bool


@dataclass(frozen=True)
class VideoClips:
    """Frames of the clips of one video.

    Attributes:
        frames: (clips, frames_per_clip, H, W, 3) uint8 RGB, rotated for display when asked.
        indices: per clip, the frame indices used (display order, 0-based).
        timepoints: per clip, its (start, end) in seconds.
        info: the stream description.
    """

    frames: np.ndarray
    indices: tuple[tuple[int, ...], ...]
    timepoints: tuple[tuple[Fraction, Fraction], ...]
    info: VideoInfo


def clip_timepoints(
    duration: float, clip_duration: float = 2, clips: int = 5
) -> tuple[tuple[Fraction, Fraction], ...]:
    """Start and end (seconds) of `clips` clips spread evenly over the video (`clip_spans`).

    Videos shorter than one clip get `clips` identical clips `[0, clip_duration]`.
    """
    return clip_spans(duration, Fraction(clip_duration), clips)


def clip_frame_indices(
    info: VideoInfo,
    timepoints: Sequence[tuple[Fraction, Fraction]],
    frames_per_clip: int = 2,
    frame_timing: str = "auto",
) -> tuple[tuple[int, ...], ...]:
    """Frame indices (display order) of each clip, uniformly subsampled to `frames_per_clip`.

    Raises:
        BadInput: unknown `frame_timing`.
    """
    if frame_timing not in FRAME_TIMINGS:
        raise BadInput(f"frame_timing must be one of {FRAME_TIMINGS}, got {frame_timing!r}")
    use_index = frame_timing == "index" or (frame_timing == "auto" and info.constant_rate)
    out = []
    for start, end in timepoints:
        if use_index:
            first = math.ceil(info.fps * start)
            stop = min(math.ceil(info.fps * end), info.num_frames)
        else:
            first = bisect.bisect_left(info.times, start)
            stop = bisect.bisect_left(info.times, end)
        first = min(first, info.num_frames - 1)
        if stop <= first:  # a gap in a variable-rate video: the frame on screen at `start`
            first = max(bisect.bisect_right(info.times, start) - 1, 0)
            stop = first + 1
        # pytorchvideo's UniformTemporalSubsample: linspace in float32, truncated.
        picks = torch.linspace(0, stop - first - 1, frames_per_clip).clamp(0, stop - first - 1)
        out.append(tuple(first + int(i) for i in picks.long().tolist()))
    return tuple(out)


def probe_video(item: Any) -> VideoInfo:
    """Describe the first video stream of `item` (path, bytes or binary file object).

    Raises:
        DecodeError: not a media file, no video stream, or no frames.
        BadInput: missing file or unsupported item type.
    """
    src = to_source(item)
    with _Video(src) as video:
        return video.info


def load_video_clips(
    item: Any,
    *,
    clip_duration: float = 2,
    clips_per_video: int = 5,
    frames_per_clip: int = 2,
    frame_timing: str = "auto",
    apply_rotation: bool = True,
    max_pixels: int | None = DEFAULT_MAX_VIDEO_PIXELS,
    frame_fn: FrameFn | None = None,
) -> VideoClips:
    """Decode the frames of evenly spread clips of a video (defaults: ImageBind's 5 x 2 s, 2 frames).

    Args:
        item: a path, bytes or binary file object of a video file.
        clip_duration: seconds per clip.
        clips_per_video: clips spread over the video.
        frames_per_clip: frames uniformly subsampled from each clip (first and last for 2).
        frame_timing: "auto", "index" or "pts" (see the module docstring).
        apply_rotation: turn frames as the display matrix says.
        max_pixels: larger frames raise `LimitExceeded` (None: no limit).
        frame_fn: applied to each (H, W, 3) uint8 RGB frame as soon as it is decoded; the
            clips then hold what it returns (one shape and dtype for all frames). A transform
            that shrinks frames passes it, so full-size frames never pile up (a 4K frame is
            25 MB as RGB).

    Raises:
        LimitExceeded: the frames have more than `max_pixels` pixels.
        DecodeError: corrupt or truncated file, no video stream, no decodable frames.
        BadInput: missing file, unsupported item type or bad arguments.
    """
    if clip_duration <= 0 or clips_per_video < 1 or frames_per_clip < 1:
        raise BadInput(
            "clip_duration must be > 0 and clips_per_video, frames_per_clip >= 1; got "
            f"{clip_duration}, {clips_per_video}, {frames_per_clip}"
        )
    src = to_source(item)
    with _Video(src, max_pixels=max_pixels) as video:
        timepoints = clip_timepoints(video.info.duration, clip_duration, clips_per_video)
        indices = clip_frame_indices(video.info, timepoints, frames_per_clip, frame_timing)
        frames = video.read([i for clip in indices for i in clip], apply_rotation, frame_fn)
    picked = frames.reshape(len(indices), frames_per_clip, *frames.shape[1:])  # (S, T, H, W, 3)
    return VideoClips(picked, indices, timepoints, video.info)


def read_frames(item: Any, indices: Sequence[int], *, apply_rotation: bool = True) -> np.ndarray:
    """Decode the frames at `indices` (display order, any order, repeats allowed) by seeking.

    Returns:
        (len(indices), H, W, 3) uint8 RGB.

    Raises:
        DecodeError: as `load_video_clips`.
        BadInput: no indices, or an index outside `0 .. num_frames - 1`.
    """
    src = to_source(item)
    if not indices:
        raise BadInput("no frame indices given", source=src.name)
    with _Video(src) as video:
        n = video.info.num_frames
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise BadInput(f"frame indices {bad[:5]} outside 0..{n - 1}", source=src.name)
        return video.read(indices, apply_rotation)


def decode_all_frames(item: Any, *, apply_rotation: bool = True) -> np.ndarray:
    """Decode every frame in display order, without seeking: (N, H, W, 3) uint8 RGB.

    The plain way; tests and benchmarks compare the seek-based path against it.
    """
    src = to_source(item)
    with _Video(src) as video:
        return video.read(range(video.info.num_frames), apply_rotation, seek=False)


class _Video:
    """An open container with its demux index; a context manager (closes the container).

    `index_of`: another `_Video` of the same source whose index is reused (no demux pass).
    `max_pixels`: larger frames raise `LimitExceeded` (from the header) or fail to decode.
    """

    def __init__(
        self, src: Source, index_of: _Video | None = None, *, max_pixels: int | None = None
    ) -> None:
        self.src = src
        self.max_pixels = max_pixels
        self.helpers: list[_Video] = []  # containers opened for helper threads
        self.convert: Callable[[Any], np.ndarray] = lambda frame: _to_rgb(frame, True)
        self.file, self.container = _open_container(src, max_pixels)
        try:
            streams = self.container.streams.video
            if not streams:
                raise DecodeError("no video stream in the file", source=src.name)
            self.stream = streams[0]
            if self.stream.codec_context is None:
                raise DecodeError("unsupported or unknown video codec", source=src.name)
            _one_thread(self.stream)
            self._limit_pixels()
            if index_of is None:
                self._index()
            else:
                self.pts, self.keyframes = index_of.pts, index_of.keyframes
                self.keyframe_pts, self.all_pts = index_of.keyframe_pts, index_of.all_pts
                self.info = index_of.info
        except DecodeError:
            self.close()
            raise
        except Exception as e:  # broken headers surface as many types inside PyAV
            self.close()
            raise DecodeError(f"corrupt video ({_reason(e)})", source=src.name) from None
        except BaseException:
            self.close()
            raise

    def _limit_pixels(self) -> None:
        if self.max_pixels is None:
            return
        ctx = self.stream.codec_context
        w, h = int(ctx.width or 0), int(ctx.height or 0)
        check_limit(
            w * h,
            self.max_pixels,
            "max_pixels",
            f"{w}x{h} = {w * h:,} pixels a frame",
            self.src.name,
        )
        ctx.options = {**ctx.options, "max_pixels": str(self.max_pixels)}

    def __enter__(self) -> _Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the container and the file under it (and those of helper threads)."""
        for helper in self.helpers:
            helper.close()
        self.container.close()
        self.file.close()

    def _index(self) -> None:
        stream, name = self.stream, self.src.name
        pts: list[int] = []
        dts: list[int | None] = []
        keys: list[bool] = []
        self.all_pts = True  # every packet has a pts: a packet's pts names its frame
        try:
            for packet in self.container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None or packet.is_discard:
                    self.all_pts = False
                    continue
                pts.append(packet.pts)
                dts.append(packet.dts)
                keys.append(packet.is_keyframe)
        except Exception as e:
            raise DecodeError(f"corrupt video ({_reason(e)})", source=name) from None
        if not pts:
            raise DecodeError("the video stream has no frames", source=name)
        order = sorted(range(len(pts)), key=pts.__getitem__)
        self.pts = [pts[i] for i in order]  # display order
        # Seek targets: (pts, dts) of keyframes, sorted by pts.
        self.keyframes = sorted(
            (pts[i], dts[i] if dts[i] is not None else pts[i]) for i in order if keys[i]
        )
        self.keyframe_pts = [k[0] for k in self.keyframes]
        tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        times = tuple((p - self.pts[0]) * tb for p in self.pts)
        steps = sorted({b - a for a, b in zip(self.pts, self.pts[1:], strict=False)})
        rate = stream.average_rate or stream.guessed_rate
        n = len(self.pts)
        if rate:
            fps = float(rate)
        elif n > 1 and times[-1] > 0:
            fps = float((n - 1) / times[-1])
        else:
            fps = 1.0
        ctx = stream.codec_context
        self.info = VideoInfo(
            num_frames=n,
            fps=fps,
            duration=n / fps,
            width=int(ctx.width or 0),
            height=int(ctx.height or 0),
            times=times,
            constant_rate=_evenly_spaced(steps),
        )

    def read(
        self,
        indices: Sequence[int],
        apply_rotation: bool,
        frame_fn: FrameFn | None = None,
        *,
        seek: bool = True,
    ) -> np.ndarray:
        """Frames at display `indices` (any order, repeats allowed): (len, H, W, 3) uint8, or
        (len, ...) of what `frame_fn` returns.

        Each distinct frame is converted to RGB (and passed through `frame_fn`) as soon as it
        is decoded, and decoded once; then they are copied into the output array.
        """
        positions: dict[int, list[int]] = {}
        for k, i in enumerate(indices):
            positions.setdefault(self.pts[i], []).append(k)
        targets = sorted(positions)

        def convert(frame: Any) -> np.ndarray:
            rgb = _to_rgb(frame, apply_rotation)  # (H, W, 3)
            return rgb if frame_fn is None else frame_fn(rgb)

        self.convert = convert
        try:
            found = self._seek_decode(targets) if seek else None
            if found is None:
                found = self._sequential_decode(targets)
            out: np.ndarray | None = None
            for pts in targets:
                rgb = found.pop(pts)
                if out is None:
                    out = np.empty((len(indices), *rgb.shape), rgb.dtype)
                elif rgb.shape != out.shape[1:]:
                    raise DecodeError(
                        f"frame size changes within the video ({out.shape[1:]} -> {rgb.shape})",
                        source=self.src.name,
                    )
                out[positions[pts]] = rgb
        except DecodeError:
            raise
        except Exception as e:
            what = "corrupt video"
            if self.max_pixels is not None and not self.info.width * self.info.height:
                what = (
                    f"corrupt video, or frames over max_pixels={self.max_pixels:,} (unstated size)"
                )
            raise DecodeError(f"{what} ({_reason(e)})", source=self.src.name) from None
        assert out is not None  # indices is never empty
        return out

    def _seek_decode(self, targets: list[int]) -> dict[int, Any] | None:
        """Decode `targets` (sorted pts) seeking to keyframes; None when seeking is unreliable.

        Targets are grouped by the last keyframe at or before them; each group is decoded from
        its keyframe up to its last target's packet, then the decoder is drained. A group that
        comes out incomplete with non-reference skipping is decoded again without it.
        """
        groups: dict[int, list[int]] = {}
        for target in targets:
            k = bisect.bisect_right(self.keyframe_pts, target) - 1
            if k < 0:
                return None  # frames before the first keyframe: decode from the start
            groups.setdefault(k, []).append(target)
        skip = self.all_pts and _nonref_is_unused(self.stream)
        # Frames from each group's keyframe to its last target: the decoding work, roughly.
        work = {
            k: bisect.bisect_left(self.pts, g[-1])
            - bisect.bisect_left(self.pts, self.keyframe_pts[k])
            for k, g in groups.items()
        }
        big = self.info.width * self.info.height > _HELPER_MAX_PIXELS  # a second decoder's memory
        if len(groups) < 2 or sum(work.values()) < _HELPER_MIN_FRAMES or big:
            return self._decode_groups(groups, skip)
        # Two shares of about equal work (largest first, each to the lighter share): this
        # thread decodes one while a helper thread decodes the other on its own container.
        shares: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})
        for k in sorted(work, key=work.__getitem__, reverse=True):
            lighter = min(shares, key=lambda share: sum(work[j] for j in share))
            lighter[k] = groups[k]
        helper = _Video(self.src, index_of=self, max_pixels=self.max_pixels)
        helper.convert = self.convert
        self.helpers.append(helper)
        with ThreadPoolExecutor(max_workers=1) as pool:
            theirs = pool.submit(helper._decode_groups, dict(sorted(shares[1].items())), skip)
            mine = self._decode_groups(dict(sorted(shares[0].items())), skip)
            found = theirs.result()
        if mine is None or found is None:
            return None
        found.update(mine)
        return found

    def _decode_groups(self, groups: dict[int, list[int]], skip: bool) -> dict[int, Any] | None:
        """Decode each keyframe group in turn; None if one stays incomplete without skipping."""
        found: dict[int, Any] = {}
        for k, group in groups.items():
            got = self._decode_group(k, set(group), skip)
            if got is None and skip:
                got = self._decode_group(k, set(group), False)
            if got is None:
                return None
            found.update(got)
        return found

    def _decode_group(self, k: int, wanted: set[int], skip: bool) -> dict[int, Any] | None:
        """Decode the frames `wanted` (pts) from keyframe `k`; None if one does not come out.

        With `skip`, packets of frames not wanted are decoded with `skip_frame="NONREF"`: a
        non-reference frame is never used to decode another one, so dropping it changes no
        other frame. Skipping starts only after a progressive frame came out (a skipped field
        of an interlaced frame could pair its other field with the wrong one).
        """
        ctx = self.stream.codec_context
        found: dict[int, Any] = {}
        unfed = set(wanted)
        progressive = False

        def take(frames: list[Any]) -> bool:
            nonlocal progressive
            for frame in frames:
                if frame.pts is None:
                    return False
                progressive = progressive or not frame.interlaced_frame
                if frame.pts in wanted:
                    found[frame.pts] = self.convert(frame)
            return True

        packets = self._seek(k)
        if packets is None:
            return None
        for packet in packets:
            if packet.size == 0:
                continue  # the end-of-stream packet: drained below
            quiet = skip and progressive and packet.pts is not None and packet.pts not in wanted
            mode = "NONREF" if quiet else "DEFAULT"
            if ctx.skip_frame != mode:
                ctx.skip_frame = mode
            if not take(ctx.decode(packet)):
                return None
            unfed.discard(packet.pts)
            if not unfed:
                break  # every wanted frame is in the decoder: never decode past the last
        ctx.skip_frame = "DEFAULT"
        if not take(ctx.decode(None)):  # drain the frames held back for reordering
            return None
        return found if len(found) == len(wanted) else None

    def _seek(self, k: int) -> Iterator[Any] | None:
        """Packets from keyframe `k` (or an earlier one); None if the demuxer lands after it.

        Containers index keyframes by pts or by dts (MP4 lands a GOP early when given the dts,
        which doubles the work on long GOPs), so the pts is tried first, then the dts.
        """
        key_pts, key_dts = self.keyframes[k]
        for timestamp in dict.fromkeys((key_pts, key_dts)):
            self.container.seek(timestamp, backward=True, any_frame=False, stream=self.stream)
            packets = self.container.demux(self.stream)
            first = next(packets, None)
            if (
                first is not None
                and first.is_keyframe
                and first.pts is not None
                and first.pts <= key_pts
            ):
                return itertools.chain((first,), packets)
        return None

    def _sequential_decode(self, targets: list[int]) -> dict[int, Any]:
        """Decode from the start in order; match frames by pts, or by position without pts."""
        self.close()  # reopen rather than trust seeking back to the start
        self.file, self.container = _open_container(self.src, self.max_pixels)
        self.stream = self.container.streams.video[0]
        _one_thread(self.stream)
        self._limit_pixels()
        wanted = set(targets)
        by_position = {p: i for i, p in enumerate(self.pts)}
        index_of_target = {by_position[p]: p for p in targets}
        found: dict[int, Any] = {}
        for count, frame in enumerate(self.container.decode(self.stream)):
            key = frame.pts if frame.pts is not None else index_of_target.get(count)
            if key in wanted:
                found[key] = self.convert(frame)
                if len(found) == len(wanted):
                    return found
        if not found:
            raise DecodeError("no decodable video frames", source=self.src.name)
        missing = len(wanted) - len(found)
        raise DecodeError(
            f"{missing} frame(s) could not be decoded (truncated?)", source=self.src.name
        )


def _nonref_is_unused(stream: Any) -> bool:
    """Whether no frame that FFmpeg's `skip_frame="NONREF"` drops is used to decode another.

    H.264: a picture with `nal_ref_idc == 0` is never referenced. MPEG-1, MPEG-2 and MPEG-4
    part 2: FFmpeg drops B-pictures, which these standards never use as references. HEVC: a
    "sub-layer non-reference" picture may still be referenced from a higher temporal sub-layer,
    so only streams whose `hvcC` record says one temporal layer qualify. Other codecs (VP8,
    VP9, AV1, ...): not checked, no.
    """
    ctx = stream.codec_context
    if ctx.name in ("h264", "mpeg1video", "mpeg2video", "mpeg4"):
        return True
    if ctx.name == "hevc":
        hvcc = ctx.extradata or b""
        # hvcC: version 1; byte 21 holds numTemporalLayers in bits 5..3 (0 = unknown).
        return len(hvcc) > 22 and hvcc[0] == 1 and (hvcc[21] >> 3) & 7 == 1
    return False


def _one_thread(stream: Any) -> None:
    """Decode on the calling thread only (FFmpeg threads nothing).

    Loaders run one per worker thread next to the model. On a 30 s 640x480 H.264 file FFmpeg's
    frame threading (2 threads) cost 15-30% more CPU time and gained at most 10% wall time;
    slice threading does nothing for the usual one-slice-per-frame streams. Splitting the
    keyframe groups between two threads (`_Video._seek_decode`) costs no extra CPU time.
    """
    stream.codec_context.thread_type = "SLICE"
    stream.codec_context.thread_count = 1


def _evenly_spaced(steps: list[int]) -> bool:
    """Whether sorted distinct pts steps describe a constant frame rate (see `VideoInfo`)."""
    if len(steps) <= 1:
        return True
    return steps[-1] - steps[0] <= max(1, steps[len(steps) // 2] // 20)


def _open_container(src: Source, max_pixels: int | None = None) -> tuple[IO[bytes], Any]:
    """The open file and a PyAV container reading it.

    Files are always read through a Python file object and FFmpeg may open nothing else: no
    protocol is whitelisted, so playlists and concat scripts (HLS `.m3u8`, `ffconcat`) cannot
    make it read other local files or URLs named inside an untrusted upload. With `max_pixels`
    the frames FFmpeg decodes while probing the streams are limited too (an 8K H.264 file took
    6 s to open without it, 0.2 s with it).
    """
    import av

    if src.array is not None:
        raise BadInput("videos must be files or bytes, not arrays", source=src.name)
    f = src.open()  # missing / empty / unreadable file -> BadInput or DecodeError
    try:
        limit = [] if max_pixels is None else [{"max_pixels": str(max_pixels)}] * _MAX_STREAMS
        options = {"protocol_whitelist": _NO_PROTOCOL}
        return f, av.open(f, mode="r", options=options, stream_options=limit)
    except Exception as e:
        f.close()
        raise DecodeError(f"not a readable video ({_reason(e)})", source=src.name) from None


def _to_rgb(frame: Any, apply_rotation: bool) -> np.ndarray:
    a = frame.to_ndarray(format="rgb24")  # (H, W, 3)
    if apply_rotation:
        turns, mirror = _orientation(frame)
        if turns:
            a = np.rot90(a, turns)
        if mirror:
            a = a[:, ::-1]
        if turns or mirror:
            a = np.ascontiguousarray(a)
    return a


def _orientation(frame: Any) -> tuple[int, bool]:
    """Counter-clockwise quarter turns, then whether to mirror left-right, for display.

    From the frame's display matrix (3x3 int32, 16.16 fixed point, row-major). A mirrored matrix
    (negative determinant) is read as a rotation followed by a horizontal flip, the form
    `av_display_matrix_flip` writes (a vertical flip is a half turn plus a horizontal flip);
    the rotation is `av_display_rotation_get` of the unflipped matrix, rounded to 90 degrees.
    These are the orientations FFmpeg's autorotate shows.
    """
    data = frame.side_data.get("DISPLAYMATRIX")
    m = np.frombuffer(bytes(data), np.int32) if data is not None else ()
    if len(m) < 9:
        return 0, False
    a, b, c, d = (float(m[i]) for i in (0, 1, 3, 4))
    mirror = a * d - b * c < 0
    if mirror:
        a, c = -a, -c  # undo the horizontal flip
    scale_x, scale_y = math.hypot(a, c), math.hypot(b, d)
    if not scale_x or not scale_y:
        return 0, False
    degrees = -math.degrees(math.atan2(b / scale_y, a / scale_x))
    return round(degrees / 90) % 4, mirror


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
