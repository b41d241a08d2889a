"""Captioned sounds made offline, to bind an audio tower to a text space (the starter's audio).

Twelve sound categories, each synthesised with random nuisance (pitch, loudness, timing,
background noise) and described by several caption phrasings; the two speech categories are
spoken by espeak-ng (a Debian package; `scripts/install-system.sh` installs it) with random
voice variants, speeds and pitches, reading sentences built from the generated world's
vocabulary. `CATEGORIES` doubles as the zero-shot label set of the held-out evaluation.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openbind.data import synth
from openbind.errors import MissingExtra


@dataclass(frozen=True)
class Category:
    """A kind of sound: its zero-shot prompt and the captions used for training."""

    name: str
    prompt: str
    captions: tuple[str, ...]


CATEGORIES = (
    Category(
        "tone",
        "a pure steady tone",
        (
            "a pure sine tone",
            "a clean steady beep tone",
            "a soft pure whistle-like tone held steady",
        ),
    ),
    Category(
        "buzz",
        "a harsh buzzing sound",
        ("a harsh buzzing tone", "an electric buzzer sound", "a raspy square wave buzz"),
    ),
    Category(
        "beeping",
        "rapid electronic beeping",
        ("rapid electronic beeping", "a fast beeping alarm", "quick repeated beeps"),
    ),
    Category(
        "hiss", "static hiss", ("static hiss", "white noise hissing", "a hissing radio static")
    ),
    Category(
        "rumble",
        "a low rumbling noise",
        ("a low rumbling noise", "a deep distant rumble", "low thunder-like rumbling"),
    ),
    Category(
        "rising",
        "a rising whistle",
        ("a rising whistle", "a sound sweeping up in pitch", "a tone gliding upward"),
    ),
    Category(
        "falling",
        "a falling whistle",
        ("a falling whistle", "a sound sweeping down in pitch", "a tone gliding downward"),
    ),
    Category(
        "ticking",
        "a clock ticking",
        ("a clock ticking", "regular ticking clicks", "a steady tick tock"),
    ),
    Category(
        "man", "a man speaking", ("a man speaking", "a male voice talking", "a man says something")
    ),
    Category(
        "woman",
        "a woman speaking",
        ("a woman speaking", "a female voice talking", "a woman says something"),
    ),
    Category(
        "melody",
        "a musical melody",
        ("a musical melody", "notes played on a synthesizer", "a short tune of musical notes"),
    ),
    Category(
        "siren",
        "a wailing siren",
        ("a wailing siren", "an emergency siren", "a siren going up and down"),
    ),
)


def render(
    category: str, rng: np.random.Generator, sample_rate: int = 16000, seconds: float = 2.0
) -> np.ndarray:
    """(n,) float32 mono sound of a non-speech category (see `speak` for speech)."""
    n = int(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    f = rng.uniform(200, 900)
    if category == "tone":
        x = np.sin(2 * np.pi * f * t)
    elif category == "buzz":
        x = np.tanh(6 * np.sin(2 * np.pi * rng.uniform(80, 250) * t))
    elif category == "beeping":
        rate = rng.uniform(5, 10)
        x = np.sin(2 * np.pi * rng.uniform(800, 2500) * t) * (((t * rate) % 1.0) < 0.5)
    elif category == "hiss":
        x = rng.normal(size=n) / 3
    elif category == "rumble":
        x = _lowpass(rng.normal(size=n), rng.uniform(40, 120) / sample_rate)
    elif category in ("rising", "falling"):
        lo, hi = rng.uniform(300, 700), rng.uniform(1500, 3000)
        freq = np.linspace(lo, hi, n) if category == "rising" else np.linspace(hi, lo, n)
        x = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate)
    elif category == "ticking":
        x = np.zeros(n)
        period = int(sample_rate / rng.uniform(2, 4))
        click = np.exp(-np.arange(200) / 30) * rng.normal(size=200)
        for start in range(int(rng.integers(period)), n - 200, period):
            x[start : start + 200] += click
    elif category == "melody":
        x = np.zeros(n)
        notes = 440 * 2 ** (rng.integers(-9, 10, size=6) / 12)
        length = n // len(notes)
        for k, note in enumerate(notes):
            seg = t[:length] * 2 * np.pi * note
            x[k * length : (k + 1) * length] = (np.sin(seg) + 0.3 * np.sin(2 * seg)) * np.exp(
                -t[:length] * 4
            )
    elif category == "siren":
        centre, depth, rate = rng.uniform(600, 1000), rng.uniform(200, 400), rng.uniform(0.5, 2)
        freq = centre + depth * np.sin(2 * np.pi * rate * t)
        x = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate)
    else:
        raise ValueError(f"unknown or speech category {category!r}")
    return _finish(x, rng)


def speak(
    text: str, voice: str, rng: np.random.Generator, sample_rate: int = 16000, seconds: float = 2.0
) -> np.ndarray:
    """espeak-ng reading `text` with `voice` (e.g. "en+m3"), random speed and pitch.

    Raises:
        MissingExtra: espeak-ng is not installed.
    """
    speed, pitch = int(rng.integers(130, 200)), int(rng.integers(20, 80))
    x = espeak(text, voice, speed, pitch, sample_rate)
    n = int(sample_rate * seconds)
    x = np.pad(x, (0, max(0, n - len(x))))[:n]
    return _finish(x, rng)


def espeak(text: str, voice: str, speed: int, pitch: int, sample_rate: int = 16000) -> np.ndarray:
    """(n,) float32 samples of espeak-ng reading `text` (voice e.g. "en+m3", speed in words per
    minute, pitch 0-99), resampled to `sample_rate`.

    Raises:
        MissingExtra: espeak-ng is not installed.
    """
    import soundfile
    import torch

    from openbind.preprocess.resample import resample

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingExtra(
            "espeak-ng is needed to make speech; install it with: apt-get install espeak-ng"
        )
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True)
        wave, rate = soundfile.read(wav, dtype="float32")
    return resample(torch.from_numpy(wave), rate, sample_rate).numpy()


MALE_VOICES = ("en+m1", "en+m2", "en+m3", "en+m4", "en+m5", "en+m6", "en+m7")
FEMALE_VOICES = ("en+f1", "en+f2", "en+f3", "en+f4", "en+f5")


def sentence(rng: np.random.Generator) -> str:
    """A short sentence from the generated world's vocabulary."""
    s = synth.scene(int(rng.integers(1 << 30)), int(rng.integers(1000)))
    return synth.caption(s)


def write_sounds(out: str | Path, n: int, *, seed: int = 0, sample_rate: int = 16000) -> Path:
    """Write `n` captioned sounds (categories cycling) and `out/manifest.csv` (audio, text, label).

    Raises:
        MissingExtra: espeak-ng is not installed (needed for the speech categories).
    """
    import soundfile

    out = Path(out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "label", "audio", "text"])
        writer.writeheader()
        for i in range(n):
            rng = np.random.default_rng([seed, i])
            cat = CATEGORIES[i % len(CATEGORIES)]
            if cat.name in ("man", "woman"):
                voices = MALE_VOICES if cat.name == "man" else FEMALE_VOICES
                wave = speak(
                    sentence(rng), voices[int(rng.integers(len(voices)))], rng, sample_rate
                )
            else:
                wave = render(cat.name, rng, sample_rate)
            rel = f"audio/{i:06d}.wav"
            soundfile.write(out / rel, wave, sample_rate, subtype="PCM_16")
            writer.writerow(
                {
                    "id": f"{i:06d}",
                    "label": cat.name,
                    "audio": rel,
                    "text": cat.captions[int(rng.integers(len(cat.captions)))],
                }
            )
    return manifest


def _lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x))
    spectrum[freqs > cutoff] = 0
    return np.fft.irfft(spectrum, len(x))


def _finish(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = x / (np.abs(x).max() + 1e-9) * rng.uniform(0.3, 0.9)
    x = x + rng.uniform(0.0, 0.03) * rng.normal(size=len(x))  # background noise
    fade = np.minimum(1.0, np.minimum(np.arange(len(x)), np.arange(len(x))[::-1]) / 160)
    return np.clip(x * fade, -1, 1).astype(np.float32)
