"""Zero-shot figures of the starter's audio tower on held-out generated sounds.

    python -m openbind.train.starter_audio --n 240 --seed 1

Writes `--n` new captioned sounds (`openbind.data.sounds`, a seed the training data did not use),
embeds them with the shipped audio tower and the 12 category prompts with the frozen MiniLM text
tower, and reports top-1 / top-3 accuracy (chance 1/12) and per-category top-1, once with the
category prompts and once with paraphrases that share few words with any training caption.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from openbind.data.sounds import CATEGORIES, write_sounds
from openbind.types import Modality

PARAPHRASES = {
    "tone": "a constant pitch",
    "buzz": "a buzzing noise",
    "beeping": "an alarm going beep beep beep",
    "hiss": "radio static",
    "rumble": "distant thunder",
    "rising": "the pitch goes up",
    "falling": "the pitch goes down",
    "ticking": "tick tock",
    "man": "male speech",
    "woman": "female speech",
    "melody": "music",
    "siren": "a police car siren",
}
"""Unseen wordings of the categories, to see whether the tower learned more than caption strings."""


@dataclass
class SoundReport:
    """Zero-shot accuracy of an audio tower over the sound categories (prompts, paraphrases)."""

    sounds: int
    top1: float
    top3: float
    paraphrase_top1: float
    chance: float
    per_category: dict[str, float]


def evaluate(n: int = 240, seed: int = 1, weights: Path | None = None) -> SoundReport:
    """Measure the starter audio tower in `weights` (default: the packaged one) on `n` sounds."""
    import openbind
    from openbind.registry import get
    from openbind.space.encoder import Encoder
    from openbind.space.model import SpaceModel
    from openbind.zoo import starter

    folder = weights or starter.DATA
    text_space = openbind.load("starter", modalities=["text"])
    audio, audio_transform = starter.optional_tower(Modality.AUDIO, folder, get("starter"))
    encoders = {"text": text_space.encoder("text"), "audio": Encoder(audio, audio_transform)}
    space = SpaceModel("starter_base.v1", encoders, text_space.dim)
    names = [c.name for c in CATEGORIES]
    with tempfile.TemporaryDirectory() as tmp:
        rows = list(csv.DictReader(write_sounds(tmp, n, seed=seed).open()))
        audio_emb = space.encode("audio", [Path(tmp) / r["audio"] for r in rows])
    prompts = space.encode("text", [c.prompt for c in CATEGORIES])
    paraphrases = space.encode("text", [PARAPHRASES[name] for name in names])
    scores = audio_emb @ prompts  # (n, 12) cosine
    truth = torch.tensor([names.index(r["label"]) for r in rows])
    top3 = scores.topk(3, dim=1).indices
    hit1 = top3[:, 0] == truth
    per_category = {name: hit1[truth == i].float().mean().item() for i, name in enumerate(names)}
    return SoundReport(
        sounds=n,
        top1=hit1.float().mean().item(),
        top3=(top3 == truth[:, None]).any(1).float().mean().item(),
        paraphrase_top1=((audio_emb @ paraphrases).argmax(1) == truth).float().mean().item(),
        chance=1 / len(names),
        per_category=per_category,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--weights", type=Path, default=None, help="folder with starter_audio.* (default: packaged)"
    )
    args = parser.parse_args()
    print(json.dumps(asdict(evaluate(args.n, args.seed, args.weights)), indent=1))


if __name__ == "__main__":
    main()
