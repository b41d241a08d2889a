"""AudioTransform: golden reference outputs (parity and fixed default), clip time points, channels."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from openbind.errors import BadInput, ConfigError, DecodeError
from openbind.preprocess.audio import AudioConfig, AudioTransform, clip_times, sample_slices
from tests.io.synth_audio import encode

GOLDEN = Path(__file__).parents[1] / "golden"
REF = np.load(GOLDEN / "preproc/audio.npz")
CLIPS = json.loads((GOLDEN / "preproc/audio_clips.json").read_text())
FILES = [str(f) for f in REF["files"]]
PARITY = AudioTransform(AudioConfig(parity=True))
DEFAULT = AudioTransform()


def _speech() -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, rate = sf.read(GOLDEN / "media/speech_44k1_mono.wav", dtype="float32")
    return x, rate


@pytest.mark.parametrize("k", range(len(FILES)))
def test_parity_matches_reference(k: int):
    out = PARITY(GOLDEN / "media" / FILES[k])
    assert out.dtype == torch.float32 and out.shape == (3, 1, 128, 204)
    np.testing.assert_allclose(out.numpy(), REF["reference"][k], rtol=0, atol=1e-6)


@pytest.mark.parametrize("k", range(len(FILES)))
def test_default_matches_reference_without_the_mean_leak(k: int):
    out = DEFAULT(GOLDEN / "media" / FILES[k])
    np.testing.assert_allclose(out.numpy(), REF["copied"][k], rtol=0, atol=1e-6)


def test_the_leak_is_real_on_overlapping_clips():
    k = FILES.index("speech_44k1_mono.wav")  # 4.4 s: the three 2-s clips overlap
    assert np.abs(REF["reference"][k] - REF["copied"][k]).max() > 0.05
    assert not torch.equal(
        PARITY(GOLDEN / "media" / FILES[k]), DEFAULT(GOLDEN / "media" / FILES[k])
    )


def test_resampled_waveform_matches_reference():
    x, rate = _speech()
    wave = DEFAULT.waveform(torch.from_numpy(x)[None], rate)
    assert wave.shape == (1, 70720) == (1, math.ceil(16000 * x.shape[0] / 44100))
    np.testing.assert_allclose(wave[0].numpy(), REF["resampled_speech"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", FILES)
def test_clip_time_points_and_slices(name: str):
    meta = CLIPS[name]
    n16k = math.ceil(16000 * meta["raw_shape"][1] / meta["orig_sr"])
    times = clip_times(n16k / 16000, AudioConfig())
    assert [(str(s), str(e)) for s, e in times] == [tuple(t) for t in meta["clip_timepoints_sec"]]
    assert sample_slices(times, 16000) == [tuple(s) for s in meta["clip_sample_slices"]]


def test_sliding_window_covers_long_recordings():
    cfg = AudioConfig(clip_stride_s=1.0)
    assert [s for s, _ in clip_times(10.0, cfg)] == list(range(9))
    starts = [s for s, _ in clip_times(10.5, cfg)]
    assert starts == [*range(9), Fraction(17, 2)] and clip_times(10.5, cfg)[-1][1] == Fraction(
        21, 2
    )
    capped = clip_times(10.0, AudioConfig(clip_stride_s=1.0, max_clips=3))
    assert [s for s, _ in capped] == [0, 4, 8]
    assert clip_times(1.0, cfg) == [(0, 2)]
    assert len(clip_times(30.0, AudioConfig(clips=5))) == 5


def test_sliding_window_transform_shape():
    x, rate = _speech()
    out = AudioTransform(AudioConfig(clip_stride_s=0.5))((x, rate))
    assert out.shape == (6, 1, 128, 204)  # 4.42 s: starts 0, 0.5, ..., 2.0, 2.42


def test_channels_default_averages_parity_takes_first():
    x, rate = _speech()
    rng = np.random.default_rng(0)
    other = (0.1 * rng.standard_normal(x.shape[0])).astype(np.float32)
    mono = DEFAULT((x, rate))
    assert torch.equal(DEFAULT((np.stack([x, x]), rate)), mono)
    assert torch.equal(DEFAULT((np.stack([x, other]), rate)), DEFAULT(((x + other) / 2, rate)))
    # parity: channel 0 after subtracting the mean of all channels
    assert torch.equal(PARITY((np.stack([x, x]), rate)), PARITY((x, rate)))
    stereo = PARITY((np.stack([x, other]), rate))
    # the other channel only shifts the subtracted mean, which per-frame DC removal cancels up
    # to rounding (visible in near-silent frames only)
    assert (stereo - PARITY((x, rate))).abs().mean() < 1e-4
    assert (stereo - DEFAULT((np.stack([x, other]), rate))).abs().mean() > 0.1


def test_silent_and_tiny_audio():
    silent = DEFAULT((np.zeros(96000, np.float32), 48000))  # 2 s
    assert torch.isfinite(silent).all()
    log_eps = math.log(torch.finfo(torch.float32).eps)
    frames = 198  # 2 s at 16 kHz: 1 + (32000 - 400) // 160
    torch.testing.assert_close(
        silent[..., :frames], torch.full_like(silent[..., :frames], (log_eps + 4.268) / 9.138)
    )
    torch.testing.assert_close(
        silent[..., frames:], torch.full_like(silent[..., frames:], 4.268 / 9.138)
    )
    tiny = DEFAULT((np.ones(10, np.float32), 16000))  # shorter than one 25-ms frame
    assert tiny.shape == (3, 1, 128, 204) and torch.isfinite(tiny).all()


def test_zero_length_and_bad_arrays():
    with pytest.raises(DecodeError, match="no audio samples"):
        DEFAULT((np.zeros(0, np.float32), 16000))
    with pytest.raises(BadInput, match="sample rate"):
        DEFAULT(np.zeros(100, np.float32))
    with pytest.raises(BadInput, match="NaN"):
        DEFAULT((np.full(100, np.nan, np.float32), 16000))
    with pytest.raises(BadInput, match="1-D or 2-D"):
        DEFAULT((np.zeros((2, 2, 2), np.float32), 16000))
    out = AudioTransform(AudioConfig(array_sample_rate=16000))(np.zeros(100, np.float32))
    assert out.shape == (3, 1, 128, 204)


def test_int_arrays_and_dicts_equal_floats():
    x, rate = _speech()
    pcm = np.round(x * 32768).astype(np.int16)
    want = DEFAULT((pcm.astype(np.float32) / 32768, rate))
    assert torch.equal(DEFAULT((pcm, rate)), want)
    assert torch.equal(DEFAULT({"array": pcm, "sampling_rate": rate}), want)
    assert torch.equal(DEFAULT((torch.from_numpy(pcm), rate)), want)


def test_config_validation():
    for bad in (
        {"clips": 0},
        {"clip_stride_s": 0.0},
        {"max_clips": 0},
        {"std": 0.0},
        {"num_mel_bins": 2},
    ):
        with pytest.raises(ConfigError):
            AudioConfig(**bad)


def test_thread_safe():
    paths = [GOLDEN / "media" / f for f in FILES] * 4
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(DEFAULT, paths))
    for p, out in zip(paths, outs, strict=True):
        np.testing.assert_allclose(out.numpy(), REF["copied"][FILES.index(p.name)], atol=1e-6)


def _long_stereo_wav(path: Path, seconds: float = 10.0, rate: int = 44100) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * rate)) / rate
    x = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 997 * t)], 1)
    sf.write(path, x + rng.normal(0, 0.05, x.shape), rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    "config",
    [
        AudioConfig(),
        AudioConfig(parity=True),
        AudioConfig(clip_stride_s=1.5),
        AudioConfig(parity=True, clip_stride_s=0.7),
    ],
    ids=["default", "parity", "stride", "parity-stride"],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_reading_only_the_clips_equals_decoding_everything(
    tmp_path: Path, config: AudioConfig, threads: int
):
    from openbind.io.audio import load_audio, open_seekable

    transform = AudioTransform(config)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # one thread sums a contiguous (2, n) clip in another order
    try:
        for path in (_long_stereo_wav(tmp_path / "long.wav"), GOLDEN / "media" / FILES[0]):
            assert open_seekable(path) is not None  # the partial-read path is taken
            wav = load_audio(path)
            whole = transform.from_waveform(torch.from_numpy(wav.samples), wav.sample_rate)
            assert torch.equal(transform(path), whole)
            assert torch.equal(transform(path.read_bytes()), whole)
    finally:
        torch.set_num_threads(before)


def test_preprocessed_clips_pass_through():
    clips = torch.from_numpy(REF["copied"][0])
    assert torch.equal(DEFAULT(clips), clips)
    assert torch.equal(DEFAULT(clips[0]), clips[:1])
    with pytest.raises(BadInput, match=r"\(1, 128, 204\)"):
        DEFAULT(torch.zeros(3, 1, 128, 200))


def _long_compressed(path: Path, seconds: int = 150, rate: int = 16000) -> Path:
    """A few minutes of stereo tones and noise: Ogg Vorbis or mp3 (libsndfile), AAC in m4a (PyAV)."""
    import soundfile as sf

    t = np.arange(seconds * rate) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t * (1 + 0.1 * np.sin(t))), 0.2 * np.sin(t * 1e3)])
    x = (x + np.random.default_rng(5).normal(0, 0.02, x.shape)).astype(np.float32)
    if path.suffix in (".ogg", ".mp3"):  # in pieces: libsndfile's encoders crash on long writes
        kind = ("OGG", "VORBIS") if path.suffix == ".ogg" else ("MP3", "MPEG_LAYER_III")
        with sf.SoundFile(path, "w", rate, 2, format=kind[0], subtype=kind[1]) as f:
            for i in range(0, x.shape[1], 1 << 14):
                f.write(np.ascontiguousarray(x[:, i : i + (1 << 14)].T))
        return path
    return encode(path, x, "aac", rate=rate)


@pytest.fixture(scope="module", params=["ogg", "m4a", "mp3"])
def long_compressed(request, tmp_path_factory) -> Path:
    return _long_compressed(tmp_path_factory.mktemp("long") / f"long.{request.param}")


@pytest.mark.parametrize(
    "config",
    [AudioConfig(), AudioConfig(parity=True), AudioConfig(clip_stride_s=40.0)],
    ids=["default", "parity", "stride"],
)
def test_compressed_files_keep_only_the_clips_and_equal_decoding_everything(
    long_compressed: Path, config: AudioConfig
):
    from openbind.io.audio import load_audio

    transform = AudioTransform(config)
    wav = load_audio(long_compressed)
    whole = transform.from_waveform(torch.from_numpy(wav.samples), wav.sample_rate)
    assert torch.equal(transform(long_compressed), whole)
    if long_compressed.suffix != ".m4a":  # libsndfile also reads these from bytes
        assert torch.equal(transform(long_compressed.read_bytes()), whole)


def test_compressed_files_are_decoded_in_bounded_memory(long_compressed: Path):
    """tracemalloc sees every numpy array the decoders allocate: the peak is a few chunks and
    the clips' ranges, not the (2, n) float32 recording (19 MB here). mp3 is read whole (see
    io.audio_ranges._mp3_decode), but only once: load_audio's peak holds it twice."""
    import tracemalloc

    from openbind.io.audio import load_audio

    tracemalloc.start()
    try:
        wav = load_audio(long_compressed)
        whole_bytes, whole_peak = wav.samples.nbytes, tracemalloc.get_traced_memory()[1]
        del wav
        tracemalloc.reset_peak()
        DEFAULT(long_compressed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert whole_bytes > 15e6 and whole_peak > 1.9 * whole_bytes
    if long_compressed.suffix == ".mp3":
        assert peak < 1.2 * whole_bytes
    else:
        assert peak < whole_bytes / 6


@pytest.mark.parametrize(("declared", "passes"), [(1, 1), (0.5, 2), (0, 2)])
def test_a_wrong_or_missing_header_length_decodes_again(
    monkeypatch, long_compressed: Path, declared: float, passes: int
):
    """Header lengths decide what is kept; when the counted length needs other samples (or the
    header has none), the file is decoded a second time keeping exactly those."""
    import dataclasses

    from openbind.io import audio_ranges as io_audio

    want = DEFAULT(long_compressed)
    calls = []
    keep = io_audio._keep

    def counting_keep(decoder, source, ranges_for, mix):
        calls.append(ranges_for)
        return keep(decoder, source, ranges_for, mix)

    for name in ("_ogg_decode", "_mp3_decode", "av_pieces"):
        real = getattr(io_audio, name)

        def wrong(source, real=real):
            pieces = real(source)
            header = next(pieces)
            yield dataclasses.replace(header, declared=int(declared * 150 * 16000))
            yield from pieces

        monkeypatch.setattr(io_audio, name, wrong)
    monkeypatch.setattr(io_audio, "_keep", counting_keep)
    assert torch.equal(DEFAULT(long_compressed), want)
    assert len(calls) == passes
