"""Entry point of the `openbind` command.

Each subcommand lives in its own module under `openbind.cli` and defines
`add_parser(subparsers) -> None` and `run(args) -> int`. Modules import nothing heavy at the top,
so `openbind --help` stays fast. Exit codes: 0 ok, 1 failure of the work, 2 bad usage or input,
3 missing weights or extra, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from openbind import __version__
from openbind.errors import (
    BadInput,
    ConfigError,
    MissingExtra,
    OpenbindError,
    UnknownModel,
    WeightsError,
)

# Order is the order of `openbind --help`.
SUBCOMMANDS = (
    "models",
    "convert",
    "export",
    "embed",
    "index",
    "search",
    "classify",
    "eval",
    "serve",
    "train",
    "fuse",
    "data",
    "demo",
)

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_WEIGHTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openbind",
        description="Unified multimodal embedding spaces: embed, search, classify, train and serve "
        "images, video, audio, text, depth, thermal and IMU data in one vector space.",
        epilog="Run `openbind COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"openbind {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"openbind.cli.{name}_cmd").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (MissingExtra, WeightsError) as e:
        _error(e)
        return EXIT_WEIGHTS
    except (BadInput, ConfigError, UnknownModel) as e:
        _error(e)
        return EXIT_USAGE
    except OpenbindError as e:
        _error(e)
        return EXIT_FAIL


def _error(e: Exception) -> None:
    print(f"openbind: error: {e}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
