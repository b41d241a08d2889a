"""The offline proof of fusion (docs/fusion.md): the Resemblyzer speaker encoder bonded onto the
starter space's audio side.

* Unimodal training data, made here: captioned sounds (`data.sounds`, 12 categories incl. two
  speech ones) and multi-voice speech (`data.voices`) as the audio collection; the sound
  captions and prompts as the text collection. No pairs are used: pseudo tuples come from soft
  retrieval.
* Expert task: speaker retrieval (leave-one-out R@1) on held-out speech by other voices.
* General task: audio -> text zero-shot top-1 on held-out generated sounds (12 classes).

`python -m openbind.fusion.proof [--out DIR]` runs the full size and writes the sweep table,
JSON and plot; `run(ProofSize.ci())` is the CI-sized version the tests use.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openbind.data.sounds import CATEGORIES, write_sounds
from openbind.data.voices import write_voices
from openbind.fusion.recipe import BondSpec, FuseRecipe, PseudoConfig, Source, run_fuse
from openbind.fusion.sweep import SweepTask, plot, retrieval_r1, sweep, table, write_results
from openbind.fusion.training import ProjectorTraining


@dataclass(frozen=True)
class ProofSize:
    """Sizes of the generated collections and of training."""

    train_sounds: int = 480
    train_speakers: int = 30
    train_per_speaker: int = 4
    test_sounds: int = 240
    test_speakers: int = 24
    test_per_speaker: int = 5
    epochs: int = 40
    hidden: int = 1024
    modes: tuple[str, ...] = ("mix", "audio", "text")
    noise: float = 0.0

    @classmethod
    def ci(cls) -> ProofSize:
        return cls(120, 12, 3, 96, 10, 4, 15, 256, ("mix",), 0.05)


def make_data(root: Path, size: ProofSize) -> dict[str, Path]:
    """Write the four generated collections (skipped if already there)."""
    parts = {
        "train_sounds": lambda p: write_sounds(p, size.train_sounds, seed=11),
        "train_voices": lambda p: write_voices(
            p, size.train_speakers, size.train_per_speaker, seed=12
        ),
        "test_sounds": lambda p: write_sounds(p, size.test_sounds, seed=21),
        "test_voices": lambda p: write_voices(
            p, size.test_speakers, size.test_per_speaker, seed=22
        ),
    }
    out = {}
    for name, make in parts.items():
        folder = root / name
        if not (folder / "manifest.csv").is_file():
            make(folder)
        out[name] = folder / "manifest.csv"
    return out


def _rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def tasks(data: dict[str, Path]) -> list[SweepTask]:
    voices, sounds = _rows(data["test_voices"]), _rows(data["test_sounds"])
    root_v, root_s = data["test_voices"].parent, data["test_sounds"].parent
    return [
        SweepTask(
            "speaker_r1",
            "retrieval",
            "audio",
            tuple(str(root_v / r["audio"]) for r in voices),
            tuple(r["speaker"] for r in voices),
        ),
        SweepTask(
            "zero_shot_top1",
            "zero_shot",
            "audio",
            tuple(str(root_s / r["audio"]) for r in sounds),
            tuple(r["label"] for r in sounds),
            {c.name: c.prompt for c in CATEGORIES},
        ),
    ]


def recipe(root: Path, data: dict[str, Path], size: ProofSize) -> FuseRecipe:
    prompts = tuple(c.prompt for c in CATEGORIES)
    return FuseRecipe(
        name="starter_speaker.fused",
        base="starter_base.v1",
        experts={"speaker": "resemblyzer_speaker.v1"},
        bond=BondSpec("combination", ("speaker",), {}, "versatile"),
        data={
            "audio": (
                Source(str(data["train_sounds"]), "audio"),
                Source(str(data["train_voices"]), "audio"),
            ),
            "text": (
                Source(str(data["train_sounds"]), "text"),
                Source(str(data["train_voices"]), "text"),
                Source(items=prompts),
            ),
        },
        pseudo=PseudoConfig(temperature=0.02, top_k=32),
        train=ProjectorTraining(
            modes=size.modes, hidden=size.hidden, epochs=size.epochs, noise=size.noise
        ),
        out=str(root / "run"),
    )


def run(size: ProofSize, root: str | Path, *, steps: int = 11, log=print) -> dict[str, Any]:
    """Generate, train, sweep the audio factor; returns rows, summary and timings."""
    import openbind as ob

    root = Path(root)
    t0 = time.perf_counter()
    data = make_data(root, size)
    t_data = time.perf_counter() - t0
    spaces = {
        "base": ob.load("starter_base.v1", modalities=["audio", "text"]),
        "speaker": ob.load("resemblyzer_speaker.v1"),
    }
    t0 = time.perf_counter()
    fused, summary = run_fuse(recipe(root, data, size), spaces=spaces, log=log)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    axis = [round(k / (steps - 1), 3) for k in range(steps)]
    task_list = tasks(data)
    rows = sweep(fused, task_list, {"audio": axis})
    voices = fused.component_vectors("audio", list(task_list[0].items))
    summary["speaker_r1_expert_alone"] = retrieval_r1(voices["speaker"], task_list[0].labels)
    t_sweep = time.perf_counter() - t0
    return {
        "rows": rows,
        "summary": summary,
        "fused": fused,
        "seconds": {"data": t_data, "train": t_train, "sweep": t_sweep},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/fusion_proof")
    parser.add_argument("--ci", action="store_true", help="the CI-sized version")
    parser.add_argument(
        "--plot", default="", help="where to write the plot (default OUT/sweep.png)"
    )
    parser.add_argument("--noise", type=float, default=None, help="noise injection std")
    args = parser.parse_args()
    size = ProofSize.ci() if args.ci else ProofSize()
    if args.noise is not None:
        size = dataclasses.replace(size, noise=args.noise)
    result = run(size, args.out)
    print(table(result["rows"]))
    write_results(result["rows"], Path(args.out) / "sweep")
    print(
        plot(
            result["rows"],
            "audio",
            ["speaker_r1", "zero_shot_top1"],
            args.plot or Path(args.out) / "sweep.png",
        )
    )
    print(
        json.dumps(
            {"summary": result["summary"], "seconds": result["seconds"]}, indent=1, default=str
        )
    )


if __name__ == "__main__":
    main()
