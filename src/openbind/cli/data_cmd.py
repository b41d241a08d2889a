"""`openbind data`: make and inspect training data.

openbind data synth OUT --n 2000 --seed 0       generated multimodal world + manifest.csv
openbind data check MANIFEST_OR_SHARDS          count usable / missing rows
openbind data shard MANIFEST OUT --rows 1000     pack a manifest into .tar shards
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="generate, check and shard paired training data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    synth = sub.add_parser(
        "synth", help="write a generated multimodal world (files + manifest.csv)"
    )
    synth.add_argument("out", help="output folder")
    synth.add_argument("--n", type=int, default=1000, help="number of scenes (default 1000)")
    synth.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    synth.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    synth.add_argument("--sample-rate", type=int, default=16000, help="audio rate (default 16000)")
    synth.add_argument(
        "--modalities",
        default="image,video,audio,text,depth,thermal,imu",
        help="comma-separated subset to write (default: all seven)",
    )
    sounds = sub.add_parser("sounds", help="write captioned sounds and speech (needs espeak-ng)")
    sounds.add_argument("out", help="output folder")
    sounds.add_argument("--n", type=int, default=2400, help="number of sounds (default 2400)")
    sounds.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    check = sub.add_parser("check", help="count the usable rows of a manifest or shard folder")
    check.add_argument("source", help="a .csv / .jsonl manifest or a folder of .tar shards")
    shard = sub.add_parser("shard", help="pack the rows of a manifest into .tar shards")
    shard.add_argument("manifest", help="a .csv / .jsonl manifest")
    shard.add_argument("out", help="output folder")
    shard.add_argument("--rows", type=int, default=1000, help="rows per shard (default 1000)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from openbind.errors import BadInput

    if args.data_command == "synth":
        from openbind.data.synth import MODALITIES, write_world

        wanted = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
        unknown = sorted(set(wanted) - set(MODALITIES))
        if unknown:
            raise BadInput(f"--modalities: unknown {unknown}; valid: {', '.join(MODALITIES)}")
        if args.n < 1:
            raise BadInput(f"--n must be >= 1, got {args.n}")
        manifest = write_world(
            args.out,
            args.n,
            seed=args.seed,
            size=args.size,
            sample_rate=args.sample_rate,
            modalities=wanted,
        )
        print(f"wrote {args.n} scenes to {manifest}")
        return 0
    if args.data_command == "sounds":
        from openbind.data.sounds import write_sounds

        if args.n < 1:
            raise BadInput(f"--n must be >= 1, got {args.n}")
        print(f"wrote {args.n} sounds to {write_sounds(args.out, args.n, seed=args.seed)}")
        return 0
    if args.data_command == "check":
        from openbind.data.sources import read_source

        _, report = read_source(args.source, [])
        print(report.summary())
        return 0 if report.rows else 1
    from openbind.data.paired import read_manifest
    from openbind.data.shards import write_shards

    rows, report = read_manifest(args.manifest)
    shards = write_shards(
        ({k: v for k, v in r.items() if _is_modality(k)} for r in rows),
        args.out,
        rows_per_shard=args.rows,
    )
    print(f"{report.summary()}\nwrote {len(shards)} shards to {args.out}")
    return 0


def _is_modality(name: str) -> bool:
    from openbind.types import Modality

    return name in {m.value for m in Modality}
