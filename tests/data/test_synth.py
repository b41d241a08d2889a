import hashlib

import numpy as np
import pytest

from openbind.data import synth
from openbind.data.synth import (
    PITCH_HZ,
    Concept,
    render_image,
    render_imu,
    render_sound,
    scene,
    write_world,
)


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix != ".mp4":  # the H.264 encoder stamps its version
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_the_world_is_deterministic(tmp_path):
    mods = ("image", "audio", "text", "depth", "thermal", "imu")
    write_world(tmp_path / "a", 6, seed=5, size=32, modalities=mods)
    write_world(tmp_path / "b", 6, seed=5, size=32, modalities=mods)
    write_world(tmp_path / "c", 6, seed=6, size=32, modalities=mods)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_every_modality_is_written_and_listed(tmp_path):
    manifest = write_world(tmp_path, 3, seed=0, size=32)
    header, *lines = manifest.read_text().splitlines()
    assert header.split(",") == ["id", "label", "shape", "colour", "motion", *synth.MODALITIES]
    assert len(lines) == 3
    for m, ext in [
        ("image", "png"),
        ("video", "mp4"),
        ("audio", "wav"),
        ("depth", "png"),
        ("thermal", "png"),
        ("imu", "npy"),
    ]:
        assert (tmp_path / m / f"000000.{ext}").stat().st_size > 100


@pytest.mark.parametrize("colour", synth.COLOURS)
def test_the_sound_pitch_follows_the_colour(colour):
    s = scene(0, 0)
    s = type(s)(**{**s.__dict__, "concept": Concept("circle", colour, "left")})
    wave = render_sound(s, 16000, 1.0)
    spectrum = np.abs(np.fft.rfft(wave))
    peak_hz = np.argmax(spectrum[50:]) + 50  # 1 Hz bins; skip the brown-noise floor
    assert abs(peak_hz - PITCH_HZ[colour]) / PITCH_HZ[colour] < 0.035


def test_the_image_shows_the_colour_and_the_imu_the_motion():
    s = scene(3, 1)
    s = type(s)(**{**s.__dict__, "concept": Concept("square", "blue", "right")})
    img = render_image(s, 64).astype(int)
    centre = img[int(s.y * 64), int(s.x * 64)]
    assert centre[2] > centre[0] + 80  # blue
    imu = render_imu(s)
    assert imu[5].mean() < -0.3  # yaw rate of a pan to the right
    assert abs(imu[3].mean()) < 0.1
    assert abs(imu[2].mean() - 9.81) < 0.05
