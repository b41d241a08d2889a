"""`openbind train RECIPE [key=value ...]`: bind a modality to a frozen anchor space.

Recipes are YAML files (see `recipes/`); overrides use dotted keys, e.g.
`openbind train recipes/starter_audio.yaml loop.steps=200 optim.lr=5e-4`. Under
`torchrun --nproc-per-node N --master-addr 127.0.0.1 -m openbind train ...` it runs DDP.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train towers into a shared space from a YAML recipe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", help="YAML recipe file")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. optim.lr=3e-4"
    )
    parser.add_argument("--print", action="store_true", help="print the resolved recipe and exit")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from openbind.train.config import load_recipe, to_yaml

    cfg = load_recipe(args.recipe, args.overrides)
    if args.print:
        print(to_yaml(cfg), end="")
        return 0
    import os

    from openbind.train.recipe import run as run_recipe

    result = run_recipe(cfg)
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, rank 0 reports
    summary = f"trained {result.step} steps; final loss {result.losses.get(result.step, float('nan')):.4f}"
    if result.val:
        summary += "; " + ", ".join(
            f"{k} {v:.3f}" for k, v in result.val.items() if k.endswith("R@1")
        )
    print(f"{summary}; run folder {result.out}")
    return 0
