"""Multi-voice speech made offline with espeak-ng, labelled by speaker (fusion's expert task).

A "speaker" is one espeak-ng voice with one variant and a fixed speed and pitch; each reads
several sentences from the generated world's vocabulary (`data.synth`), so the same words come
from many speakers and one speaker says many things. `write_voices` writes the clips and a
manifest (`id,speaker,audio,text`) whose `text` is a caption ("a man speaking", ...) of the kind
the starter's audio tower was trained on.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openbind.data.sounds import espeak, sentence

LANGUAGES = ("en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: espeak-ng voice `language+variant`, speed (wpm) and pitch (0-99)."""

    language: str
    variant: str
    speed: int
    pitch: int

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}@{self.speed}/{self.pitch}"

    @property
    def gender(self) -> str:
        return "woman" if self.variant.startswith("f") else "man"


def speakers(n: int, seed: int = 0) -> list[Speaker]:
    """`n` distinct speakers (languages x variants, with their own speed and pitch)."""
    rng = np.random.default_rng(seed)
    combos = [(lang, var) for var in VARIANTS for lang in LANGUAGES]
    order = rng.permutation(len(combos))[:n]
    return [
        Speaker(*combos[k], speed=int(rng.integers(150, 171)), pitch=int(rng.integers(40, 61)))
        for k in order
    ]


def say(
    text: str, who: Speaker, sample_rate: int = 16000, rng: np.random.Generator | None = None
) -> np.ndarray:
    """(n,) float32 speech of `who` reading `text`; with `rng`, this reading's speed and pitch
    vary around the speaker's (+-15 wpm, +-8) and its loudness and background noise are random.

    Raises:
        MissingExtra: espeak-ng is not installed.
    """
    voice = f"{who.language}+{who.variant}"
    speed, pitch = who.speed, who.pitch
    if rng is not None:
        speed += int(rng.integers(-15, 16))
        pitch = int(np.clip(pitch + rng.integers(-8, 9), 0, 99))
    x = espeak(text, voice, speed, pitch, sample_rate)
    gain = 0.7 if rng is None else rng.uniform(0.2, 0.9)
    x = x / (np.abs(x).max() + 1e-9) * gain
    if rng is not None:
        x = x + rng.uniform(0.0, 0.02) * rng.normal(size=len(x))
    return np.clip(x, -1, 1).astype(np.float32)


def write_voices(
    out: str | Path, n_speakers: int, per_speaker: int, *, seed: int = 0, sample_rate: int = 16000
) -> Path:
    """Write `per_speaker` sentences of each of `n_speakers` speakers and `out/manifest.csv`.

    Returns:
        The manifest path (columns id, speaker, audio, text).
    """
    import soundfile

    out = Path(out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "speaker", "audio", "text"])
        writer.writeheader()
        for s, who in enumerate(speakers(n_speakers, seed)):
            for k in range(per_speaker):
                rng = np.random.default_rng([seed, s, k])
                rel = f"audio/{s:03d}_{k:02d}.wav"
                soundfile.write(out / rel, say(sentence(rng), who, sample_rate, rng), sample_rate)
                writer.writerow(
                    {
                        "id": f"{s:03d}_{k:02d}",
                        "speaker": who.name,
                        "audio": rel,
                        "text": f"a {who.gender} speaking",
                    }
                )
    return manifest
