"""Bounded cost per input (`openbind.limits`) and the defects of issue 18, each from its reproducer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from openbind.errors import BadInput, DecodeError, LimitExceeded
from openbind.io.text import read_text
from openbind.limits import Truncation, cut_text, recording
from openbind.preprocess.audio import AudioConfig, AudioTransform
from openbind.preprocess.depth import DepthTransform
from openbind.preprocess.image import ImageTransform
from openbind.preprocess.imu import ImuTransform
from openbind.preprocess.text import TextConfig, TextTransform
from openbind.preprocess.thermal import ThermalTransform
from openbind.preprocess.video import VideoConfig, VideoTransform
from tests.io.synth_audio import encode
from tests.io.synth_video import make_video


def test_cut_text_records_the_cut_only_inside_recording():
    assert cut_text("abc", 5) == "abc"
    assert cut_text("abcdef", 3) == "abc"  # outside a recording block: cut, nothing noted
    with recording() as cuts:
        assert cut_text("abcdef", 3, source="caption") == "abc"
        assert cut_text("ab", 3) == "ab"
    assert cuts == [Truncation("max_chars", 3, 6, "caption")]
    assert cuts[0].reason == "cut to the first 3 of 6 (max_chars)"


def test_a_20_mb_text_is_cut_before_tokenising_and_the_cut_is_recorded():
    huge = "a dog barking " * 1_500_000  # 21 MB: tokenised whole this took 30 s and 2.8 GB
    transform = TextTransform()
    with recording() as cuts:
        ids = transform(huge)
    assert torch.equal(ids, transform(huge[:20_000]))
    assert [(c.setting, c.limit, c.original) for c in cuts] == [("max_chars", 20_000, len(huge))]
    with recording() as cuts:
        TextTransform(TextConfig(max_chars=None))("a dog " * 10)
    assert cuts == []


def test_text_files_are_read_only_as_far_as_the_limit(tmp_path: Path):
    path = tmp_path / "long.txt"
    path.write_text("é" * 50 + "x" * 10_000, encoding="utf-8")  # 2-byte characters first
    with recording() as cuts:
        text = read_text(path, max_chars=60)
    assert text == "é" * 50 + "x" * 10
    assert cuts[0].limit == 60 and cuts[0].original == path.stat().st_size
    with recording() as cuts:
        assert read_text(path, max_chars=None) == path.read_text(encoding="utf-8")
    assert cuts == []
    cut = tmp_path / "cut.txt"  # the bounded read ends inside a 2-byte character: dropped
    cut.write_bytes(("é" * 300).encode())
    assert read_text(cut, max_chars=100) == "é" * 100


def test_a_nan_ready_tensor_is_refused_by_every_transform():
    cases = [
        (ImageTransform(), (3, 224, 224)),
        (ThermalTransform(), (1, 224, 224)),
        (DepthTransform(), (1, 224, 224)),
        (ImuTransform(), (6, 2000)),
        (VideoTransform(), (3, 2, 224, 224)),
        (AudioTransform(), (1, 128, 204)),
    ]
    for transform, shape in cases:
        for bad in (float("nan"), float("inf")):
            x = torch.zeros(shape)
            x.view(-1)[7] = bad
            with pytest.raises(BadInput, match="NaN or infinite"):
                transform(x)
        assert transform(torch.zeros(shape)).shape == (1, *shape)


def test_an_empty_pil_image_is_bad_input_not_zero_division():
    for size in [(0, 5), (5, 0)]:
        with pytest.raises(DecodeError, match="no pixels"):
            ThermalTransform()(Image.new("L", size))
        with pytest.raises(DecodeError, match="no pixels"):
            ImageTransform()(Image.new("RGB", size))


def test_video_frames_over_the_pixel_limit_are_refused_before_decoding():
    data = make_video(n=4, size=(64, 48))
    with pytest.raises(
        LimitExceeded, match=r"64x48 = 3,072 pixels a frame .* max_pixels=3,000"
    ) as e:
        VideoTransform(VideoConfig(max_pixels=3000))(data)
    assert (e.value.setting, e.value.limit) == ("max_pixels", 3000)
    assert VideoTransform(VideoConfig(max_pixels=3072))(data).shape == (15, 3, 2, 224, 224)


def test_audio_over_the_duration_limit_is_refused(tmp_path: Path):
    rate = 16000
    x = (0.1 * np.sin(np.arange(5 * rate) / 7)).astype(np.float32)
    short = AudioTransform(AudioConfig(max_duration_s=4.0))
    for item in [(x, rate), encode(tmp_path / "a.m4a", x[None], "aac", rate=rate)]:
        with pytest.raises(LimitExceeded, match="5 s of audio is over the limit max_duration_s=4"):
            short(item)
        assert AudioTransform(AudioConfig(max_duration_s=6.0))(item).shape == (3, 1, 128, 204)


@pytest.mark.parametrize("suffix", [".ogg", ".mp3"])
def test_long_ogg_and_mp3_are_read_by_seeking_to_the_clips(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
):
    import soundfile as sf

    from openbind.io import audio_ranges

    rate = 16000
    t = np.arange(30 * rate) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t * (1 + 0.1 * np.sin(t))), 0.2 * np.sin(t * 1e3)])
    path = tmp_path / f"long{suffix}"
    kind = ("OGG", "VORBIS") if suffix == ".ogg" else ("MP3", "MPEG_LAYER_III")
    with sf.SoundFile(path, "w", rate, 2, format=kind[0], subtype=kind[1]) as f:
        for i in range(0, x.shape[1], 1 << 14):
            f.write(np.ascontiguousarray(x[:, i : i + (1 << 14)].T.astype(np.float32)))
    transform = AudioTransform()
    whole = transform(path)  # 3.8 MB of samples: decoded front to back
    reads: list[int] = []
    original_read = sf.SoundFile.read

    def counted_read(self, frames=-1, *args, **kwargs):
        out = original_read(self, frames, *args, **kwargs)
        reads.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counted_read)
    monkeypatch.setattr(audio_ranges, "SEEK_ABOVE_BYTES", 1 << 20)
    seeked = transform(path)
    assert len(reads) == 3 and sum(reads) < 0.4 * x.shape[1]  # one read per clip, 2 s + context
    torch.testing.assert_close(seeked, whole, rtol=0, atol=2e-4)  # 1-ulp samples


def test_large_video_frames_are_scaled_plane_by_plane_bit_identically(
    monkeypatch: pytest.MonkeyPatch,
):
    from openbind.preprocess import video

    frames = np.random.default_rng(0).integers(0, 256, (2, 2, 90, 160, 3), dtype=np.uint8)
    whole = video.scale_frames(frames, 64)
    monkeypatch.setattr(video, "_PLANE_PIXELS", 0)  # every frame counts as large
    assert torch.equal(video.scale_frames(frames, 64), whole)


def test_the_starter_text_tower_reads_text_files(tmp_path: Path):
    minilm = pytest.importorskip("openbind.encoders.minilm")
    tokenize = minilm.TokenizeText()
    path = tmp_path / "a.txt"
    path.write_text("a dog barking at the mailman\n", encoding="utf-8")
    assert torch.equal(tokenize(path), tokenize("a dog barking at the mailman\n"))
    assert not torch.equal(tokenize(str(path)), tokenize(path))  # a str is the text itself
    with recording() as cuts:
        long = tokenize("word " * 10_000)
    assert long.shape == (1, 256) and cuts[0].original == 50_000
    with pytest.raises(BadInput, match="text items must be strings or text file paths"):
        tokenize(b"bytes")
