"""Audio decoding: formats, inputs accepted, bad files, and a fuzz test of the decoders."""

from __future__ import annotations

import contextlib
import io
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openbind.errors import BadInput, DecodeError
from openbind.io.audio import load_audio
from openbind.io.text import read_text
from openbind.preprocess.audio import AudioConfig, AudioTransform
from tests.io.synth_audio import encode, encode_interleaved

MEDIA = Path(__file__).parents[1] / "golden" / "media"
SPEECH = MEDIA / "speech_44k1_mono.wav"
VIDEO_WITHOUT_AUDIO = MEDIA / "testsrc_320x240_30fps_3s.mp4"
RATE = 48000


def _tone() -> np.ndarray:
    t = np.arange(RATE) / RATE  # 1 s, stereo: 440 Hz left, 660 Hz right
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)]).astype(
        np.float32
    )


def test_wav_is_int16_over_32768_exactly():
    with wave.open(str(SPEECH)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    wav = load_audio(SPEECH)
    assert wav.sample_rate == 44100 and wav.samples.shape == (1, 194920)
    assert wav.samples.dtype == np.float32
    np.testing.assert_array_equal(wav.samples[0], pcm.astype(np.float32) / 32768)
    assert wav.duration_s == pytest.approx(194920 / 44100) and wav.channels == 1


def test_path_bytes_and_file_objects_agree():
    want = load_audio(SPEECH).samples
    data = SPEECH.read_bytes()
    for item in (str(SPEECH), data, bytearray(data), io.BytesIO(data)):
        np.testing.assert_array_equal(load_audio(item).samples, want)


@pytest.mark.parametrize(
    ("suffix", "codec", "lossless"),
    [
        ("flac", "flac", True),
        ("wav", "pcm_s16le", True),
        ("mp3", "libmp3lame", False),
        ("ogg", "libopus", False),
        ("m4a", "aac", False),
        ("opus", "libopus", False),
    ],
)
def test_formats(tmp_path: Path, suffix: str, codec: str, lossless: bool):
    x = _tone()
    path = encode(tmp_path / f"tone.{suffix}", x, codec)
    for item in (path, path.read_bytes()):
        wav = load_audio(item)
        assert wav.sample_rate == RATE and wav.channels == 2
        n = wav.samples.shape[1]
        assert RATE <= n <= RATE + 2048  # lossy codecs add encoder delay / padding
        if lossless:
            np.testing.assert_allclose(wav.samples, x, atol=1 / 32768)
        else:  # same loudness per channel
            rms = np.sqrt((wav.samples[:, 4000:40000] ** 2).mean(axis=1))
            np.testing.assert_allclose(rms, [0.5 / np.sqrt(2), 0.3 / np.sqrt(2)], rtol=0.1)


def test_audio_track_of_a_video(tmp_path: Path):
    wav = load_audio(encode(tmp_path / "clip.mp4", _tone(), "aac", video=True))
    assert wav.sample_rate == RATE and wav.channels == 2 and wav.samples.shape[1] >= RATE


def test_video_without_audio_track():
    with pytest.raises(DecodeError, match=r"testsrc_320x240_30fps_3s\.mp4: no audio track"):
        load_audio(VIDEO_WITHOUT_AUDIO)


def test_bad_files(tmp_path: Path):
    data = SPEECH.read_bytes()
    cases = {
        "empty.wav": (b"", "empty file"),
        "header_only.wav": (data[:44], "truncated file: the header declares 389840 data bytes, 0"),
        "truncated.wav": (data[: len(data) // 2], "truncated file"),
        "cut_header.wav": (data[:30], "cannot decode audio"),
        "garbage.mp3": (bytes(range(256)) * 8, "cannot decode audio"),
        "noise.m4a": (np.random.default_rng(0).bytes(3000), "cannot decode audio"),
        "picture.png": (data, "unsupported audio file extension '.png'"),
    }
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(DecodeError, match=reason) as e:
            load_audio(path)
        assert name in str(e.value)
    with pytest.raises(DecodeError, match="truncated"):
        load_audio(data[: len(data) // 2])
    with pytest.raises(BadInput, match="no such file") as missing:
        load_audio(tmp_path / "missing.wav")
    assert not isinstance(missing.value, DecodeError)


def test_truncated_mp3(tmp_path: Path):
    data = encode(tmp_path / "tone.mp3", _tone(), "libmp3lame").read_bytes()
    (tmp_path / "cut.mp3").write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match=r"cut\.mp3: truncated file"):
        load_audio(tmp_path / "cut.mp3")


def test_arrays():
    x = _tone()
    for item in ((x, RATE), (x.T, RATE), {"array": x, "sampling_rate": RATE}):
        wav = load_audio(item)
        assert wav.samples.shape == (2, RATE) and wav.sample_rate == RATE
    assert load_audio(x[0], sample_rate=RATE).samples.shape == (1, RATE)
    u8 = load_audio((np.array([0, 128, 255], np.uint8), 8000)).samples
    np.testing.assert_array_equal(u8, [[-1.0, 0.0, 127 / 128]])
    with pytest.raises(BadInput, match="sample rate"):
        load_audio(x)
    with pytest.raises(BadInput, match="positive"):
        load_audio((x, 0))
    with pytest.raises(BadInput, match="dtype"):
        load_audio((x.astype(np.complex64), RATE))


def _small_wav() -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, load_audio(SPEECH).samples[0, 20000:22026], 44100, format="WAV", subtype="PCM_16")
    return buf.getvalue()


_SMALL_WAV = _small_wav()  # a valid 4,096-byte WAV


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=2048),
        # a valid WAV with random bytes overwritten (in its header, mostly)
        st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=12).map(
            lambda edits: bytes(_mutate(_SMALL_WAV, edits))
        ),
    )
)
def test_fuzz_decoders_raise_only_bad_input(data: bytes):
    """Random or damaged bytes: the decoders and the audio transform raise nothing but BadInput."""
    for decode in (
        load_audio,
        read_text,
        AudioTransform(),
        AudioTransform(AudioConfig(parity=True)),
    ):
        with contextlib.suppress(BadInput):
            decode(data)


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytearray:
    out = bytearray(data)
    for pos, value in edits:
        out[pos % 64 if pos % 2 else pos] = value  # half of the edits hit the 44-byte header
    return out


@pytest.mark.parametrize(
    ("suffix", "subtype"),
    [("wav", s) for s in ("PCM_16", "PCM_24", "PCM_32", "PCM_U8", "FLOAT", "ULAW", "ALAW")]
    + [("flac", "PCM_16"), ("flac", "PCM_24")],
)
def test_integer_pcm_fast_path_equals_libsndfile_floats(tmp_path: Path, suffix: str, subtype: str):
    import soundfile as sf

    path = tmp_path / f"x.{suffix}"
    sf.write(path, np.random.default_rng(0).uniform(-1, 1, (3000, 2)), 8000, subtype=subtype)
    want = sf.read(path, dtype="float32", always_2d=True)[0].T
    np.testing.assert_array_equal(load_audio(path).samples, want)


def test_seekable_reader(tmp_path: Path):
    from openbind.io.audio import open_seekable

    want = load_audio(SPEECH).samples
    with open_seekable(SPEECH) as reader:
        assert (reader.frames, reader.sample_rate, reader.channels) == (194920, 44100, 1)
        np.testing.assert_array_equal(reader.read(1000, 5000), want[:, 1000:5000])
        edge = reader.read(-3, 2)
        np.testing.assert_array_equal(edge, np.concatenate([np.zeros((1, 3)), want[:, :2]], 1))
        assert reader.read(194918, 194922)[0, 2:].tolist() == [0, 0]
    mp3 = encode(tmp_path / "tone.mp3", _tone(), "libmp3lame")
    data = SPEECH.read_bytes()
    for not_seekable in (mp3, (_tone(), RATE), data[: len(data) // 2], tmp_path / "missing.wav"):
        assert open_seekable(not_seekable) is None


@pytest.mark.parametrize("channels", [1, 2, 3, 5, 6])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_U8", "PCM_24", "FLOAT"])
def test_read_mean_equals_the_float_channel_mean(tmp_path: Path, channels: int, subtype: str):
    """8/16-bit PCM is averaged on the integers: the same float32 values, bit for bit."""
    import soundfile as sf
    import torch

    from openbind.io.audio import channel_mean, open_seekable

    path = tmp_path / "x.wav"
    rng = np.random.default_rng(channels)
    sf.write(path, rng.uniform(-1, 1, (5000, channels)), 8000, subtype=subtype)
    with open_seekable(path) as reader:
        for start, stop in ((0, 5000), (-7, 40), (4990, 5010), (100, 100)):
            samples = reader.read(start, stop)
            mean = reader.read_mean(start, stop)
            assert mean.shape == (1, stop - start) and mean.dtype == np.float32
            np.testing.assert_array_equal(mean, channel_mean(samples))
            if subtype in ("PCM_16", "PCM_U8"):  # exact sums: any float32 mean agrees
                want = torch.from_numpy(samples).mean(dim=0, keepdim=True).numpy()
                np.testing.assert_array_equal(mean, want)


def test_truncated_multiplexed_ogg(tmp_path: Path):
    """Cut just after one stream's last (end-of-stream) page while another stream goes on."""
    path = encode_interleaved(tmp_path / "two.opus", (3.0, 1.0))
    data = path.read_bytes()
    assert load_audio(path).samples.shape[1] >= 3 * 48000  # the first stream, whole
    pos, ends = 0, []  # end offsets of the pages flagged end-of-stream
    while pos < len(data):
        segments = data[pos + 26]
        end = pos + 27 + segments + sum(data[pos + 27 : pos + 27 + segments])
        if data[pos + 5] & 4:
            ends.append(end)
        pos = end
    assert len(ends) == 2 and ends[1] == len(data)  # the short stream ends mid-file
    (tmp_path / "cut.opus").write_bytes(data[: ends[0]])
    with pytest.raises(
        DecodeError, match=r"cut\.opus: truncated file: the Ogg stream ends without"
    ):
        load_audio(tmp_path / "cut.opus")


@pytest.mark.parametrize("codec", ["vorbis", "libopus"])
def test_truncated_ogg(tmp_path: Path, codec: str):
    """libsndfile and FFmpeg decode what is there; the missing end-of-stream page is refused."""
    import soundfile as sf

    path = tmp_path / "tone.ogg"
    if codec == "vorbis":  # libsndfile reads .ogg
        sf.write(path, _tone().T, RATE, format="OGG", subtype="VORBIS")
    else:
        encode(path, _tone(), codec)
    data = path.read_bytes()
    assert load_audio(path).samples.shape[1] >= RATE  # the whole file is fine
    last_page = data.rindex(b"OggS")
    for name, cut, reason in (
        ("half.ogg", len(data) // 2, "the last Ogg page is incomplete"),
        ("page.ogg", last_page, "the Ogg stream ends without its last page"),
        ("page.opus", last_page, "the Ogg stream ends without its last page"),  # PyAV
    ):
        (tmp_path / name).write_bytes(data[:cut])
        with pytest.raises(DecodeError, match=rf"{name}: truncated file: {reason}"):
            load_audio(tmp_path / name)
        with pytest.raises(DecodeError, match="truncated file"):
            AudioTransform()(data[:cut])
