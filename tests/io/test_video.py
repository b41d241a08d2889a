"""Video decoding: reference clip/frame arithmetic, seek == full decode, VFR, rotation, bad files."""

from __future__ import annotations

import contextlib
import io
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from openbind.errors import BadInput, DecodeError
from openbind.io import video as video_module
from openbind.io.video import (
    clip_frame_indices,
    clip_timepoints,
    decode_all_frames,
    load_video_clips,
    probe_video,
    read_frames,
)
from tests.io.synth_video import make_audio_only, make_video

GOLDEN = Path(__file__).parents[1] / "golden"
TESTSRC = GOLDEN / "media" / "testsrc_320x240_30fps_3s.mp4"


def _frame_ids(frames: np.ndarray) -> list[int]:
    """Which synthetic frame each decoded frame is, from its grey level (bottom-right area)."""
    values = frames[..., -8:, -8:, 0].reshape(len(frames), -1).mean(axis=1)
    return [round((v - 8) / 6) for v in values]


def _ids(indices: object) -> list[int]:
    """Expected `_frame_ids` of frame indices (grey levels repeat every 40 frames)."""
    return [i % 40 for i in np.asarray(indices).reshape(-1).tolist()]


def test_golden_clip_timepoints_indices_and_frames() -> None:
    golden = np.load(GOLDEN / "preproc" / "video_internals.npz")
    clips = load_video_clips(TESTSRC)
    assert clips.info.num_frames == int(golden["num_frames"]) == 90
    assert clips.info.fps == float(golden["fps"]) and clips.info.duration == float(
        golden["duration"]
    )
    assert [[str(s), str(e)] for s, e in clips.timepoints] == golden["timepoints"].tolist()
    assert [list(i) for i in clips.indices] == golden["indices"].tolist()
    assert clips.frames.shape == (5, 2, 240, 320, 3)
    # The golden frames are (clips, C, T, H, W); PyAV rgb24 equals decord's frames exactly.
    np.testing.assert_array_equal(clips.frames.transpose(0, 4, 1, 2, 3), golden["frames"])


def test_clip_timepoints_match_the_reference_sampler() -> None:
    assert clip_timepoints(3.0) == tuple((Fraction(k, 4), Fraction(k, 4) + 2) for k in range(5))
    assert clip_timepoints(1.2) == ((Fraction(0), Fraction(2)),) * 5  # shorter than a clip
    (s0, _), (s1, e1) = clip_timepoints(4.42, 2, 3)[:2]
    assert s0 == 0 and s1 == Fraction(4.42 - 2) / 2 and e1 == s1 + 2
    assert clip_timepoints(10.0, 2, 1) == ((Fraction(0), Fraction(2)),)


@pytest.mark.parametrize(
    ("gop", "b_frames", "fps", "n"),
    [(8, 2, 24, 40), (1, 0, 30, 17), (250, 3, 25, 60), (5, 1, 10, 95), (100, 3, 30, 400)],
)
def test_seeking_equals_full_decoding(
    gop: int, b_frames: int, fps: int, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_video(n=n, fps=fps, gop=gop, b_frames=b_frames)
    full = decode_all_frames(data)
    assert full.shape[0] == n and _frame_ids(full) == _ids(range(n))
    # From here on the seek path must do all the work (no silent sequential fallback).
    monkeypatch.setattr(video_module._Video, "_sequential_decode", _no_fallback)
    clips = load_video_clips(data)
    for clip, idx in zip(clips.frames, clips.indices, strict=True):
        np.testing.assert_array_equal(clip, full[list(idx)])
    some = [n - 1, 0, 3, 3, n // 2, n - 2]
    np.testing.assert_array_equal(read_frames(data, some), full[some])


@pytest.mark.parametrize(
    ("container", "codec"),
    [("matroska", "libx264"), ("avi", "mpeg4"), ("mpegts", "libx264"), ("webm", "libvpx-vp9")],
)
def test_other_containers_seek_like_full_decoding(
    container: str, codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_video(n=60, fps=10, gop=12, codec=codec, container=container)
    full = decode_all_frames(data)
    assert _frame_ids(full) == _ids(range(60))
    monkeypatch.setattr(video_module._Video, "_sequential_decode", _no_fallback)
    clips = load_video_clips(data)
    assert clips.indices[1] == (10, 29)  # duration 6 s: clip 1 starts at 1 s
    for clip, idx in zip(clips.frames, clips.indices, strict=True):
        np.testing.assert_array_equal(clip, full[list(idx)])


@pytest.mark.parametrize(
    ("container", "params"),
    [("matroska", "scenecut=0"), ("mpegts", "scenecut=0"), ("mp4", "scenecut=0:open-gop=1")],
)
def test_long_gops_in_other_containers_seek_like_full_decoding(
    container: str, params: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Non-reference skipping and the helper thread, on containers that seek by other rules
    # and on open GOPs (B-frames before a keyframe in display order are decoded after it).
    opts = {"x264-params": params}
    data = make_video(n=400, fps=30, gop=100, b_frames=3, container=container, options=opts)
    full = decode_all_frames(data)
    assert _frame_ids(full) == _ids(range(400))
    calls = _spy_groups(monkeypatch)
    wanted = [0, 1, 2, 3, 97, 99, 150, 250, 251, 398, 399]
    np.testing.assert_array_equal(read_frames(data, wanted), full[wanted])
    assert sorted(calls) == [(True, True)] * 4


def _no_fallback(*args: object) -> None:
    raise AssertionError("fell back to sequential decoding")


def _non_reference(data: bytes) -> list[int]:
    """Display indices of the frames FFmpeg drops with `skip_frame="NONREF"` (never referenced)."""
    with av.open(io.BytesIO(data)) as c:
        pts = sorted(f.pts for f in c.decode(video=0))
    with av.open(io.BytesIO(data)) as c:
        c.streams.video[0].codec_context.skip_frame = "NONREF"
        kept = {f.pts for f in c.decode(video=0)}
    return [i for i, p in enumerate(pts) if p not in kept]


def _spy_groups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, bool]]:
    """Record (skip, complete) of every keyframe group the seek path decodes."""
    calls: list[tuple[bool, bool]] = []
    decode_group = video_module._Video._decode_group

    def spy(self: Any, k: int, wanted: set[int], skip: bool) -> Any:
        got = decode_group(self, k, wanted, skip)
        calls.append((skip, got is not None))
        return got

    monkeypatch.setattr(video_module._Video, "_decode_group", spy)
    monkeypatch.setattr(video_module._Video, "_sequential_decode", _no_fallback)
    return calls


def test_skipping_non_reference_frames_keeps_every_frame_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long GOPs, 3 B-frames with x264's default b-pyramid: the middle B of a run is a
    # reference, the outer two are not.
    data = make_video(
        n=400, fps=30, gop=100, b_frames=3, options={"b-pyramid": "normal", "sc_threshold": "0"}
    )
    full = decode_all_frames(data)
    assert _frame_ids(full) == _ids(range(400))
    nonref = _non_reference(data)
    assert nonref[:6] == [1, 3, 5, 7, 9, 11] and len(nonref) > 150  # of 400 frames
    calls = _spy_groups(monkeypatch)
    # Wanted: non-reference B-frames (1, 3, 95, 98 just before keyframe 100, 205, 302, 397),
    # reference B-frames of the pyramid (2, 301), P-frames and keyframes (0, 100, 300).
    wanted = [1, 2, 3, 4, 8, 95, 98, 99, 100, 205, 300, 301, 302, 397, 399, 0]
    assert {1, 3, 95, 98, 205, 302, 397} <= set(nonref) and {2, 301}.isdisjoint(nonref)
    np.testing.assert_array_equal(read_frames(data, wanted), full[wanted])
    assert calls == [(True, True)] * 4  # one pass per GOP, skipping, never retried
    calls.clear()
    clips = load_video_clips(data)
    for clip, idx in zip(clips.frames, clips.indices, strict=True):
        np.testing.assert_array_equal(clip, full[list(idx)])
    assert calls and all(c == (True, True) for c in calls)


@pytest.mark.parametrize(
    ("codec", "container"),
    [("mpeg4", "mp4"), ("mpeg4", "avi"), ("mpeg2video", "mpegts"), ("mpeg1video", "matroska")],
)
def test_mpeg_b_pictures_are_skipped_exactly(
    codec: str, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MPEG-1/2 and MPEG-4 part 2 never reference B-pictures: NONREF drops exactly those.
    data = make_video(n=120, fps=25, gop=60, b_frames=2, codec=codec, container=container)
    full = decode_all_frames(data)
    # every frame distinct and about its own grey level (these coders blur it by a step or so)
    ids = np.array(_frame_ids(full)) - np.array(_ids(range(120)))
    assert len(full) == 120 and np.abs((ids + 20) % 40 - 20).max() <= 1
    assert all((full[i] != full[i + 1]).any() for i in range(119))
    nonref = _non_reference(data)
    assert len(nonref) >= 70  # two of every three frames
    calls = _spy_groups(monkeypatch)
    wanted = [*nonref[:3], nonref[len(nonref) // 2], nonref[-1], 0, 3, 60, 119]
    np.testing.assert_array_equal(read_frames(data, wanted), full[wanted])
    assert len(calls) >= 2 and all(c == (True, True) for c in calls)  # skipping, never retried


@pytest.mark.parametrize(("layers", "skips"), [(1, True), (2, False)])
def test_hevc_skips_non_reference_frames_only_with_one_temporal_layer(
    layers: int, skips: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With more temporal layers a sub-layer non-reference picture may be referenced from a
    # higher layer, so FFmpeg's NONREF skipping is not trusted there.
    params = "log-level=error:scenecut=0" + (f":temporal-layers={layers}" if layers > 1 else "")
    data = make_video(
        n=120, fps=30, gop=60, b_frames=3, codec="libx265", options={"x265-params": params}
    )
    full = decode_all_frames(data)
    assert _frame_ids(full) == _ids(range(120))
    nonref = _non_reference(data)
    assert len(nonref) > 30
    calls = _spy_groups(monkeypatch)
    wanted = [*nonref[:3], nonref[len(nonref) // 2], nonref[-1], 0, 60, 119]
    np.testing.assert_array_equal(read_frames(data, wanted), full[wanted])
    assert calls == [(skips, True)] * 2


def test_interlaced_h264_seeks_like_full_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_video(
        n=60, fps=25, gop=30, b_frames=3, options={"x264-params": "interlaced=1:scenecut=0"}
    )
    full = decode_all_frames(data)
    assert _frame_ids(full) == _ids(range(60))
    assert _non_reference(data)  # there are frames skipping would drop
    calls = _spy_groups(monkeypatch)
    wanted = [1, 3, 29, 31, 59]
    np.testing.assert_array_equal(read_frames(data, wanted), full[wanted])
    assert calls == [(True, True)] * 2


def test_a_helper_thread_decodes_half_the_groups_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_video(n=400, fps=30, gop=100, b_frames=3, options={"sc_threshold": "0"})
    full = decode_all_frames(data)
    threads: list[str] = []
    decode_groups = video_module._Video._decode_groups

    def spy(self: Any, groups: dict[int, list[int]], skip: bool) -> Any:
        threads.append(threading.current_thread().name)
        return decode_groups(self, groups, skip)

    monkeypatch.setattr(video_module._Video, "_decode_groups", spy)
    monkeypatch.setattr(video_module._Video, "_sequential_decode", _no_fallback)
    wanted = [399, 5, 150, 250, 251, 0, 398]
    np.testing.assert_array_equal(read_frames(io.BytesIO(data), wanted), full[wanted])
    assert len(threads) == 2 and len(set(threads)) == 2
    threads.clear()
    monkeypatch.setattr(video_module, "_HELPER_MIN_FRAMES", 10**9)  # all on this thread
    np.testing.assert_array_equal(read_frames(data, wanted), full[wanted])
    assert threads == [threading.current_thread().name]


def test_errors_in_the_helper_thread_are_decode_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.mp4"
    path.write_bytes(make_video(n=400, fps=30, gop=100, b_frames=3, options={"sc_threshold": "0"}))
    opened: list[Any] = []
    init, decode_group = video_module._Video.__init__, video_module._Video._decode_group

    def track(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        opened.append(self)

    def fail_in_helper(self: Any, k: int, wanted: set[int], skip: bool) -> Any:
        if threading.current_thread() is not threading.main_thread():
            raise av.error.InvalidDataError(1094995529, "Invalid data found")
        return decode_group(self, k, wanted, skip)

    monkeypatch.setattr(video_module._Video, "__init__", track)
    monkeypatch.setattr(video_module._Video, "_decode_group", fail_in_helper)
    with pytest.raises(DecodeError, match=r"long\.mp4: corrupt video \(InvalidDataError"):
        read_frames(path, [99, 399])
    assert len(opened) == 2 and all(v.file.closed for v in opened)


def test_seeking_lands_on_each_keyframe() -> None:
    data = make_video(n=400, fps=30, gop=100, b_frames=3, options={"sc_threshold": "0"})
    with video_module._Video(video_module.to_source(data)) as video:
        assert len(video.keyframes) == 4
        for k, (key_pts, key_dts) in enumerate(video.keyframes):
            assert key_dts < key_pts  # B-frames delay decoding: MP4 seeks by pts land here
            packets = video._seek(k)
            assert packets is not None and next(packets).pts == key_pts


def test_reference_index_arithmetic_on_synthetic_video() -> None:
    clips = load_video_clips(make_video(n=40, fps=24))  # 40 / 24 s
    # ceil(24 * s) .. min(ceil(24 * (s + 2)), 40) - 1 with s = k * (40/24 - 2 -> 0) / 4 = 0
    assert clips.indices == ((0, 39),) * 5
    clips = load_video_clips(make_video(n=95, fps=10, gop=5), frames_per_clip=3)
    # duration 9.5 s: starts k * 7.5 / 4 = 0, 1.875, 3.75, 5.625, 7.5
    assert clips.indices == (
        (0, 9, 19),
        (19, 28, 38),
        (38, 47, 57),
        (57, 66, 76),
        (75, 84, 94),
    )
    assert _frame_ids(clips.frames.reshape(-1, 48, 64, 3)) == _ids(clips.indices)


def test_variable_frame_rate_uses_presentation_times(monkeypatch: pytest.MonkeyPatch) -> None:
    pts = [0, 40, 80, 200, 210, 220, 600, 640, 700, 1500, 1540, 1580, 1620, 1700]
    pts += [2500, 2540, 2580, 2620, 2660, 2700, 3900, 3940, 3980, 4000]
    data = make_video(n=len(pts), pts_ms=pts, gop=6)
    full = decode_all_frames(data)
    monkeypatch.setattr(video_module._Video, "_sequential_decode", _no_fallback)
    info = probe_video(data)
    assert not info.constant_rate
    assert [float(t) for t in info.times] == [p / 1000 for p in pts]
    clips = load_video_clips(data)  # auto -> pts timing
    for (start, end), idx in zip(clips.timepoints, clips.indices, strict=True):
        shown = [i for i, p in enumerate(pts) if start <= Fraction(p, 1000) < end]
        assert idx == (shown[0], shown[-1])
    assert _frame_ids(clips.frames.reshape(-1, 48, 64, 3)) == _ids(clips.indices)
    for clip, idx in zip(clips.frames, clips.indices, strict=True):
        np.testing.assert_array_equal(clip, full[list(idx)])


def test_millisecond_rounded_29_97_fps_counts_as_constant_rate() -> None:
    pts = [round(i * 1001 / 30) for i in range(60)]  # steps of 33 and 34 ms
    info = probe_video(make_video(n=60, pts_ms=pts))
    assert info.constant_rate


def test_index_and_pts_timing_agree_on_constant_rate() -> None:
    info = probe_video(make_video(n=95, fps=10, gop=5))
    assert info.constant_rate
    tp = clip_timepoints(info.duration, 2, 5)
    assert clip_frame_indices(info, tp, 2, "index") == clip_frame_indices(info, tp, 2, "pts")
    with pytest.raises(BadInput, match="frame_timing"):
        clip_frame_indices(info, tp, 2, "exact")


def test_video_shorter_than_a_clip_and_single_frame() -> None:
    clips = load_video_clips(make_video(n=6, fps=12))  # 0.5 s
    assert clips.indices == ((0, 5),) * 5
    one = load_video_clips(make_video(n=1, fps=12, gop=1, b_frames=0))
    assert one.indices == ((0, 0),) * 5 and one.frames.shape == (5, 2, 48, 64, 3)


@pytest.mark.parametrize(("rotation", "turns"), [(90, 1), (-90, 3), (180, 2)])
def test_rotation_metadata(rotation: float, turns: int) -> None:
    data = make_video(n=10, fps=10, rotation=rotation)
    raw = load_video_clips(data, apply_rotation=False).frames
    assert raw.shape[2:4] == (48, 64)
    turned = load_video_clips(data).frames
    np.testing.assert_array_equal(turned, np.rot90(raw, turns, axes=(2, 3)))
    # The white quarter is top-left in the coded frame; players show it rotated.
    corner = {1: (-1, 0), 3: (0, -1), 2: (-1, -1)}[turns]
    assert turned[0, 0, corner[0], corner[1]].min() > 200


@pytest.mark.parametrize(
    ("rotation", "flip", "corner"),
    [
        (None, (True, False), (0, -1)),  # mirrored left-right: white quarter top-right
        (None, (False, True), (-1, 0)),  # upside down mirror: bottom-left
        (90, (True, False), (-1, -1)),  # turned to bottom-left, then mirrored
        (180, (False, True), (0, -1)),  # half turn then vertical mirror = horizontal mirror
        (-90, (False, True), (-1, -1)),  # turned to top-right, then mirrored vertically
    ],
)
def test_flips_in_the_display_matrix(
    rotation: float | None, flip: tuple[bool, bool], corner: tuple[int, int]
) -> None:
    data = make_video(n=10, fps=10, rotation=rotation, flip=flip)
    raw = load_video_clips(data, apply_rotation=False).frames  # (S, T, H, W, 3)
    turned = np.rot90(raw, round((rotation or 0) / 90) % 4, axes=(2, 3))
    expected = np.flip(turned, 3) if flip[0] else np.flip(turned, 2)
    np.testing.assert_array_equal(load_video_clips(data).frames, expected)
    assert expected[0, 0, corner[0], corner[1]].min() > 200
    assert expected[0, 0, -1 - corner[0], -1 - corner[1]].max() < 200


def test_audio_track_is_ignored_and_audio_only_is_an_error(tmp_path: Path) -> None:
    clips = load_video_clips(make_video(n=24, fps=12, audio=True))
    assert clips.info.num_frames == 24
    path = tmp_path / "voice.m4a"
    path.write_bytes(make_audio_only())
    with pytest.raises(DecodeError, match=r"voice\.m4a: no video stream"):
        load_video_clips(path)


def test_bad_files(tmp_path: Path) -> None:
    data = TESTSRC.read_bytes()
    trunc = tmp_path / "cut.mp4"
    trunc.write_bytes(data[: len(data) // 3])
    with pytest.raises(DecodeError, match=r"cut\.mp4: "):
        load_video_clips(trunc)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match=r"empty\.mp4: empty file"):
        load_video_clips(empty)
    odd = tmp_path / "clip.xyz"
    odd.write_text("not a video at all " * 20)
    with pytest.raises(DecodeError, match=r"clip\.xyz: not a readable video"):
        load_video_clips(odd)
    with pytest.raises(BadInput, match=r"gone\.mp4: no such file"):
        load_video_clips(tmp_path / "gone.mp4")
    with pytest.raises(BadInput, match="not arrays"):
        load_video_clips(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(BadInput, match=r"outside 0\.\.89"):
        read_frames(TESTSRC, [90])
    with pytest.raises(BadInput, match="no frame indices"):
        read_frames(TESTSRC, [])


def test_playlists_cannot_make_ffmpeg_read_other_files(tmp_path: Path) -> None:
    (tmp_path / "secret.mp4").write_bytes(make_video(n=10, fps=10))
    hls = tmp_path / "upload.m3u8"
    hls.write_text(f"#EXTM3U\n#EXTINF:1.0,\n{tmp_path / 'secret.mp4'}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "upload.ffconcat"
    concat.write_text("ffconcat version 1.0\nfile secret.mp4\n")
    for path in (hls, concat):
        with pytest.raises(DecodeError, match=rf"{path.name}: not a readable video"):
            load_video_clips(path)


def test_file_object_and_bytes_inputs() -> None:
    data = make_video(n=20, fps=10)
    a = load_video_clips(data).frames
    np.testing.assert_array_equal(load_video_clips(io.BytesIO(data)).frames, a)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        load_video_clips(data)


_SMALL = make_video(n=12, fps=12, gop=4)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(_SMALL) - 1), st.integers(1, 255))
@example(pos=1463, xor=1)  # once gave a stream without a codec context
def test_mutated_video_only_raises_decode_error(pos: int, xor: int) -> None:
    data = bytearray(_SMALL)
    data[pos] ^= xor
    with contextlib.suppress(DecodeError):
        clips = load_video_clips(bytes(data))
        assert clips.frames.dtype == np.uint8
