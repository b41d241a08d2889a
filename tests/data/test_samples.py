"""The demo sample collection: real photos, generated video, speech, sounds and notes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from openbind.data import samples as samples_mod
from openbind.data.samples import SAMPLE_RATE, SampleSet, build_samples, load_samples, samples_dir
from openbind.types import Modality


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return build_samples(tmp_path_factory.mktemp("samples"))


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_collection_has_every_planned_file_with_its_caption(built: SampleSet) -> None:
    assert built.missing == {}
    names = [s.name for s in built.samples]
    assert len(names) == 27
    assert [s.name for s in built.by_modality("image")][:3] == [
        "images/astronaut.png",
        "images/coffee.png",
        "images/chelsea.png",
    ]
    counts = {
        m: len(built.by_modality(m))
        for m in (Modality.IMAGE, Modality.VIDEO, Modality.AUDIO, Modality.TEXT)
    }
    assert counts == {Modality.IMAGE: 10, Modality.VIDEO: 4, Modality.AUDIO: 8, Modality.TEXT: 5}
    assert built.caption(built.root / "images" / "chelsea.png") == "a tabby cat"
    assert (
        built.caption(built.root / "audio" / "speech_cat.wav")
        == "a voice saying: The cat is sleeping on the sofa."
    )
    assert built.caption("/elsewhere/chelsea.png") is None
    assert (
        built.root / "notes" / "coffee.txt"
    ).read_text() == "Morning espresso in a white cup on a saucer.\n"
    assert sorted(p.name for p in built.root.iterdir()) == [
        "audio",
        "images",
        "notes",
        "samples.json",
        "videos",
    ]


def test_images_are_the_real_photographs(built: SampleSet) -> None:
    import skimage.data

    with Image.open(built.path("images/chelsea.png")) as im:
        assert (im.mode, im.size) == ("RGB", (451, 300))
        np.testing.assert_array_equal(np.asarray(im), skimage.data.chelsea())
    with Image.open(built.path("images/coins.png")) as im:  # grey photo stored as RGB
        a = np.asarray(im)
        assert im.mode == "RGB" and (a[..., 0] == a[..., 2]).all()
    with Image.open(built.path("images/rocket.jpg")) as im:
        assert im.format == "JPEG" and im.size == (640, 427)


def test_videos_decode_with_the_expected_frames(built: SampleSet) -> None:
    with av.open(str(built.path("videos/red_ball.mp4"))) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 24
    assert frames[0].shape == (224, 224, 3)
    red = (frames[5][..., 0] > 180) & (frames[5][..., 1] < 90)
    assert 1000 < red.sum() < 3500  # a ball of radius 28 px: ~2,460 px
    with av.open(str(built.path("videos/cat_pan.mp4"))) as c:
        stream = c.streams.video[0]
        assert float(stream.duration * stream.time_base) == pytest.approx(2.0, abs=0.1)
        first, *_, last = list(c.decode(video=0))
    assert (
        np.abs(
            first.to_ndarray(format="rgb24").astype(int) - last.to_ndarray(format="rgb24")
        ).mean()
        > 10
    )  # it moves


def _peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(wave))


def test_sounds_are_what_their_captions_say(built: SampleSet) -> None:
    tone, rate = sf.read(str(built.path("audio/tone_440hz.wav")))
    assert rate == SAMPLE_RATE and tone.ndim == 1 and len(tone) == 2 * SAMPLE_RATE
    assert _peak_hz(tone) == pytest.approx(440, abs=1)
    chirp, _ = sf.read(str(built.path("audio/chirp.wav")))
    assert _peak_hz(chirp[: SAMPLE_RATE // 4]) < 800 < 3000 < _peak_hz(chirp[-SAMPLE_RATE // 4 :])
    noise, _ = sf.read(str(built.path("audio/white_noise.wav")))
    assert 0.2 < noise[SAMPLE_RATE // 2 : -SAMPLE_RATE // 2].std() < 0.35
    speech, rate = sf.read(str(built.path("audio/speech_rocket.wav")))
    assert rate == SAMPLE_RATE and len(speech) > 2 * SAMPLE_RATE
    assert np.abs(speech).max() > 0.1


def test_build_is_deterministic_and_reused(built: SampleSet, tmp_path: Path) -> None:
    again = build_samples(tmp_path / "again")
    assert _digest(again.root) == _digest(built.root)
    stamp = (again.root / "images" / "coffee.png").stat().st_mtime_ns
    reused = build_samples(tmp_path / "again")
    assert reused == load_samples(tmp_path / "again")
    assert (again.root / "images" / "coffee.png").stat().st_mtime_ns == stamp  # not rewritten
    (again.root / "videos" / "cat_pan.mp4").unlink()
    assert load_samples(again.root) is None  # incomplete: rebuilt on the next call
    assert (build_samples(again.root).root / "videos" / "cat_pan.mp4").is_file()


def test_without_espeak_speech_is_listed_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        samples_mod.shutil, "which", lambda name: None if name == "espeak-ng" else real_which(name)
    )
    monkeypatch.setattr(samples_mod, "IMAGES", samples_mod.IMAGES[:1])
    monkeypatch.setattr(samples_mod, "VIDEOS", ())
    got = build_samples(tmp_path / "s")
    assert sorted(got.missing) == [
        "audio/speech_cat.wav",
        "audio/speech_coffee.wav",
        "audio/speech_rocket.wav",
    ]
    assert "espeak-ng is not installed" in got.missing["audio/speech_cat.wav"]
    assert not (tmp_path / "s" / "audio" / "speech_cat.wav").exists()
    assert [p.name for p in (tmp_path / "s" / "audio").iterdir() if p.name.startswith(".tmp")] == []
    assert load_samples(tmp_path / "s").missing == got.missing


def test_default_folder_follows_openbind_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path))
    assert samples_dir() == tmp_path / "samples" / "v1"
