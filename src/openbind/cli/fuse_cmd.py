"""`openbind fuse`: FreeBind fusion of expert spaces onto a unified space.

    openbind fuse train recipe.yaml [key=value ...]    train projectors, save OUT/fused (resumable)
    openbind fuse sweep FUSED --task tasks.yaml --factor audio=0:1:0.1 [--plot sweep.png]
    openbind fuse presets                              FreeBind's named factor presets

A sweep task file lists tasks (see `openbind.fusion.sweep.SweepTask`), each reading a CSV:

    - {name: speaker_r1, kind: retrieval, modality: audio, manifest: voices.csv,
       column: audio, label: speaker}
    - {name: zero_shot, kind: zero_shot, modality: audio, manifest: sounds.csv, column: audio,
       label: label, prompts: {dog: "a dog barking", ...}}
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fuse",
        help="fuse expert spaces into a unified space (FreeBind): train, sweep factors",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="fuse_command", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a bond's projectors from a YAML recipe")
    train.add_argument("recipe", help="YAML recipe (see openbind.fusion.recipe)")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides")
    train.add_argument("--print", action="store_true", help="print the resolved recipe and exit")
    train.set_defaults(run=run_train)
    sw = sub.add_parser("sweep", help="score a fused space over a grid of factors")
    sw.add_argument("fused", help="a saved fused space folder")
    sw.add_argument("--task", required=True, help="YAML list of tasks")
    sw.add_argument(
        "--factor",
        action="append",
        default=[],
        metavar="MODALITY=START:STOP:STEP",
        help="an axis of the grid, e.g. audio=0:1:0.1 (repeatable)",
    )
    sw.add_argument("--bond", type=int, default=-1, help="which bond's factors to sweep")
    sw.add_argument("--out", default="sweep", help="writes OUT.csv and OUT.json")
    sw.add_argument("--plot", default="", help="write a plot (PNG) against the first factor")
    sw.set_defaults(run=run_sweep)
    pr = sub.add_parser("presets", help="list the named factor presets")
    pr.set_defaults(run=run_presets)


def run_train(args: argparse.Namespace) -> int:
    from openbind.fusion.recipe import load_fuse_recipe

    recipe = load_fuse_recipe(args.recipe, args.overrides)
    if args.print:
        import json

        from openbind.config import to_dict

        print(json.dumps(to_dict(recipe), indent=1))
        return 0
    from openbind.fusion.recipe import run_fuse

    run_fuse(recipe)
    return 0


def parse_axis(text: str) -> tuple[str, list[float]]:
    """ "audio=0:1:0.1" -> ("audio", [0.0, 0.1, ..., 1.0]); "text=0.1,0.5" -> explicit values."""
    from openbind.errors import BadInput

    name, sep, spec = text.partition("=")
    if not sep:
        raise BadInput(f"--factor {text!r} must look like MODALITY=START:STOP:STEP")
    try:
        if ":" in spec:
            start, stop, step = (float(x) for x in spec.split(":"))
            n = round((stop - start) / step) + 1
            return name, [round(start + k * step, 6) for k in range(n)]
        return name, [float(x) for x in spec.split(",")]
    except ValueError:
        raise BadInput(f"--factor {text!r}: numbers expected") from None


def run_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    import yaml

    from openbind.errors import BadInput
    from openbind.fusion.fused import load_fused
    from openbind.fusion.recipe import Source, read_items
    from openbind.fusion.sweep import SweepTask, plot, sweep, table, write_results

    if not args.factor:
        raise BadInput("give at least one --factor MODALITY=START:STOP:STEP")
    axes = dict(parse_axis(f) for f in args.factor)
    specs = yaml.safe_load(Path(args.task).read_text()) or []
    tasks = []
    for s in specs:
        manifest = str(Path(args.task).parent / s["manifest"])
        items = read_items(Source(manifest=manifest, column=s["column"]))
        labels = read_items(Source(manifest=manifest, column=s["label"]))
        tasks.append(
            SweepTask(
                s["name"],
                s["kind"],
                s["modality"],
                tuple(items),
                tuple(labels),
                dict(s.get("prompts", {})),
            )
        )
    fused = load_fused(args.fused)
    rows = sweep(fused, tasks, axes, bond=args.bond)
    print(table(rows))
    print(f"wrote {write_results(rows, args.out)}")
    if args.plot:
        print(f"wrote {plot(rows, next(iter(axes)), [t.name for t in tasks], args.plot)}")
    return 0


def run_presets(args: argparse.Namespace) -> int:
    from openbind.fusion.presets import PRESET_TITLES, PRESETS

    for name, factors in PRESETS.items():
        values = ", ".join(f"{m.value} {f}" for m, f in factors.items())
        print(f"{name:14s} {PRESET_TITLES[name]:14s} {values}")
    return 0
