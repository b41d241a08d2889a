"""Modality detection by extension and content."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from openbind.pipeline import detect, sniff
from openbind.types import Modality


@pytest.fixture
def media(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    Image.fromarray(rgb).save(tmp_path / "photo.jpg")
    Image.fromarray(np.full((8, 8), 1000, np.uint16)).save(tmp_path / "depth.png")
    np.save(tmp_path / "depth.npy", np.ones((4, 4), np.float32))
    sf.write(tmp_path / "sound.wav", np.zeros(800, np.float32), 8000)
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(40))
    (tmp_path / "song.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(40))
    (tmp_path / "note.txt").write_text("a dog barking")
    (tmp_path / "imu.csv").write_text("0.1,0.2,9.8,0.0,0.01,0.02\n0.1,0.2,9.8,0.0,0.01,0.02\n")
    (tmp_path / "imu_t.csv").write_text("t,ax,ay,az,gx,gy,gz\n0,0.1,0.2,9.8,0,0,0\n")
    (tmp_path / "table.csv").write_text("name,age\nbob,3\n")
    (tmp_path / "data.bin").write_bytes(bytes(100))
    return tmp_path


SNIFFED = [  # recognised from their bytes alone
    ("photo.png", Modality.IMAGE),
    ("photo.jpg", Modality.IMAGE),
    ("depth.png", Modality.DEPTH),
    ("depth.npy", Modality.DEPTH),
    ("sound.wav", Modality.AUDIO),
    ("clip.mp4", Modality.VIDEO),
    ("song.m4a", Modality.AUDIO),
]


@pytest.mark.parametrize(
    ("name", "modality"),
    [
        *SNIFFED,
        ("note.txt", Modality.TEXT),
        ("imu.csv", Modality.IMU),
        ("imu_t.csv", Modality.IMU),
        ("table.csv", None),
        ("data.bin", None),
    ],
)
def test_detect_by_extension_and_content(media, name, modality):
    assert detect(media / name) is modality


@pytest.mark.parametrize(("src", "modality"), SNIFFED)
def test_files_without_extension_are_sniffed(media, src, modality):
    (media / "noext").write_bytes((media / src).read_bytes())
    assert detect(media / "noext") is modality


def test_sniff_more_magic():
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is Modality.IMAGE
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST") is Modality.VIDEO
    assert sniff(b"\x1aE\xdf\xa3\x01") is Modality.VIDEO
    assert sniff(b"fLaC\x00") is Modality.AUDIO
    assert sniff(b"OggS\x00") is Modality.AUDIO
    assert sniff(b"ID3\x04") is Modality.AUDIO
    assert sniff(b"GIF89a") is Modality.IMAGE
    assert sniff(b"hello world") is None
    assert sniff(b"") is None


def test_content_wins_over_a_misleading_extension(tmp_path):
    from PIL import Image

    from openbind.pipeline import detect_file, identify

    Image.new("RGB", (4, 4), (200, 10, 10)).save(tmp_path / "photo.wav", format="JPEG")
    found = detect_file(tmp_path / "photo.wav")
    assert found.modality is Modality.IMAGE and found.format == "JPEG"
    assert found.warning == "a JPEG named .wav: embedded as image"
    ok = detect_file(tmp_path / "photo.wav").__class__  # the same detector serves uploads
    up = identify((tmp_path / "photo.wav").read_bytes()[:64], "photo.wav", mime="audio/wav")
    assert isinstance(up, ok) and up.modality is Modality.IMAGE and up.warning
    assert identify(b"just text", "notes.md").modality is Modality.TEXT
    assert identify(b"\x00\x01", None, mime="video/mp4").modality is Modality.VIDEO
    assert identify(b"\x00\x01", "x.bin").modality is None
    assert identify(b"\x00\x00\x00\x18ftypM4A \x00", "a.mp4").warning is None
