"""`openbind convert`: split an official checkpoint into one safetensors file per tower.

A converted folder loads only the towers asked for (`openbind.load(..., modalities=[...])` opens
just their files) and is checked by sha256 in its `manifest.json`. Which keys form a tower is told
by the model family: the module of the registry entry's builder defines
`key_groups() -> Mapping[str, Sequence[str]]` (group name -> key prefixes), as
`openbind.zoo.imagebind` does.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from openbind import registry
from openbind.errors import BadInput


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert an official checkpoint to per-tower safetensors files",
        description="Convert a checkpoint (.pth/.pt/.safetensors) to a folder with one "
        "safetensors file per tower and a manifest.json, so that loading some modalities reads "
        "only their files. Example: openbind convert imagebind_huge.pth ./imagebind_huge",
    )
    parser.add_argument("src", type=Path, metavar="SRC", help="the checkpoint file")
    parser.add_argument("dst", type=Path, metavar="DST", help="the folder to write")
    parser.add_argument(
        "--model",
        default="imagebind_huge",
        help="registered model whose key layout SRC has (default: %(default)s)",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        help="store the weights in this dtype (float16 halves a float32 checkpoint; it loads "
        "back as float32); default: as in SRC",
    )
    parser.add_argument("--force", action="store_true", help="replace DST if it exists")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from openbind.checkpoint import convert, group_by_prefix, read_manifest
    from openbind.cli.models_cmd import human_bytes
    from openbind.quantize import parse_dtype

    entry = registry.get(args.model)
    groups = key_groups(entry)
    dst = convert(
        args.src,
        args.dst,
        group_of=group_by_prefix(groups),
        overwrite=args.force,
        progress=not args.quiet,
        dtype=parse_dtype(args.dtype) if args.dtype else None,
    )
    written = read_manifest(dst)["groups"]
    for name, info in written.items():
        print(
            f"{name:>12}  {len(info['keys']):5d} keys  {human_bytes(info['size']):>9}  {info['file']}"
        )
    total = sum(info["size"] for info in written.values())
    stored = read_manifest(dst).get("dtype", "as in the source")
    print(f"wrote {dst} ({len(written)} files, {human_bytes(total)}, {stored}) for {entry.name}")
    return 0


def key_groups(entry: registry.ModelCard) -> Mapping[str, Sequence[str]]:
    """Group name -> key prefixes for `entry`, from its family module's `key_groups()`.

    Raises:
        BadInput: the family defines no per-tower layout.
    """
    module = importlib.import_module(entry.builder.split(":")[0])
    groups = getattr(module, "key_groups", None)
    if groups is None:
        raise BadInput(f"{entry.name} has no per-tower checkpoint layout; nothing to convert to")
    return groups()
