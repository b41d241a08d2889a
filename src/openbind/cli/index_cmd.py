"""`openbind index build|update|info|list`: media libraries searchable by `openbind search`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openbind.cli.embed_cmd import (
    add_load_options,
    add_model_options,
    add_ray_options,
    emit_json,
    load_space,
    make_runner,
    needed_modalities,
    print_summary,
    progress,
)
from openbind.cli.models_cmd import human_bytes

if TYPE_CHECKING:
    from openbind.index import LibraryInfo

EXAMPLES = """
examples:
  openbind index build ~/Pictures ~/Music --name media
  openbind index build clips/ --path ./clips.lib --kind hnsw --ef-search 128
  openbind index build ~/Pictures --name photos --tags ~/Pictures/tags.csv   # user tags
  openbind index update media                # re-scan the folders it was built from
  openbind index watch media                 # follow the folders, update as files change
  openbind index info media --json
  openbind index list

Named libraries live in $OPENBIND_HOME/libraries/NAME (default ~/.cache/openbind). Updates are
incremental and atomic: an interrupted build or update leaves the library as it was at its last
commit, and running the command again carries on.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "index",
        help="build, update and inspect searchable media libraries",
        description="Embed folders into a vector library (faiss index + SQLite metadata) that "
        "`openbind search` and `openbind serve` query.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    build = actions.add_parser(
        "build",
        help="embed folders into a new library",
        description="Create a library from folders and files (or finish an interrupted build).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "inputs", nargs="+", metavar="PATH", help="folders (walked recursively) and files"
    )
    where = build.add_mutually_exclusive_group(required=True)
    where.add_argument("--name", help="store it as $OPENBIND_HOME/libraries/NAME")
    where.add_argument("--path", help="store it in this folder")
    build.add_argument(
        "--kind",
        choices=("flat", "hnsw", "ivfpq"),
        default="flat",
        help="flat: exact search (default, fine up to ~10^6 items); hnsw: approximate, faster "
        "on large libraries; ivfpq: compressed codes (about dim/16 bytes per vector)",
    )
    build.add_argument(
        "--backend",
        choices=("faiss", "milvus"),
        default="faiss",
        help="where the vectors live: an in-process faiss index (default) or a Milvus "
        "collection (extra 'milvus'); metadata and updates work the same",
    )
    build.add_argument(
        "--uri", metavar="URI", help="Milvus server URL (http://host:19530) or milvus-lite file"
    )
    build.add_argument(
        "--collection", metavar="NAME", help="Milvus collection (default: from the library name)"
    )
    build.add_argument(
        "--hnsw-m", type=int, default=32, metavar="M", help="HNSW links per node (default 32)"
    )
    build.add_argument(
        "--ef-construction",
        type=int,
        default=100,
        metavar="N",
        help="HNSW build quality (default 100)",
    )
    build.add_argument(
        "--ef-search", type=int, default=64, metavar="N", help="HNSW search breadth (default 64)"
    )
    build.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="also index files whose symbolic links lead out of the indexed folders",
    )
    build.add_argument(
        "--tags",
        metavar="FILE",
        help="sidecar CSV/JSON of user tags per file (path column + one column per tag), "
        "searchable with --filter tag.NAME=VALUE",
    )
    add_model_options(build)
    build.set_defaults(run=run_build)

    update = actions.add_parser(
        "update",
        help="re-scan a library's folders: add new, re-embed changed, drop deleted files",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    update.add_argument("library", metavar="LIBRARY", help="library name or folder")
    update.add_argument(
        "inputs", nargs="*", metavar="PATH", help="new roots (default: the library's own)"
    )
    update.add_argument(
        "--as", dest="force", metavar="MODALITY", help="embed every file as this modality"
    )
    update.add_argument(
        "--batch-size", type=int, default=None, metavar="N", help="items per forward pass"
    )
    update.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="also index files whose symbolic links lead out of the indexed folders",
    )
    update.add_argument("--tags", metavar="FILE", help="a new sidecar file of user tags")
    add_ray_options(update)
    add_load_options(update)
    update.add_argument("--json", action="store_true", help="print the summary as JSON")
    update.add_argument("--no-progress", action="store_true", help="no progress bar")
    update.set_defaults(run=run_update)

    watch = actions.add_parser(
        "watch",
        help="follow a library's folders and update it as files appear, change or vanish",
        description="Bring the library up to date, then watch its folders (watchfiles) and "
        "commit each batch of changes; a running `openbind serve` shows them at once.",
    )
    watch.add_argument("library", metavar="LIBRARY", help="library name or folder")
    watch.add_argument(
        "--as", dest="force", metavar="MODALITY", help="embed every file as this modality"
    )
    watch.add_argument(
        "--debounce-ms",
        type=int,
        default=200,
        metavar="MS",
        help="quiet time before a batch of changes is applied (default 200)",
    )
    add_load_options(watch)
    watch.set_defaults(run=run_watch)

    info = actions.add_parser("info", help="model, index kind, counts and roots of a library")
    info.add_argument("library", metavar="LIBRARY", help="library name or folder")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(run=run_info)

    listing = actions.add_parser("list", help="the libraries stored by name")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=run_list)


def run_build(args: argparse.Namespace) -> int:
    from openbind.index import library_path
    from openbind.pipeline import build_library

    path = library_path(args.name) if args.name else Path(args.path)
    params = None
    kind = args.kind
    if args.backend == "milvus":
        from openbind.errors import BadInput

        if not args.uri:
            raise BadInput("--backend milvus needs --uri (a server URL or a milvus-lite file)")
        kind = "milvus"
        name = args.collection or "openbind_" + re.sub(r"\W", "_", path.name)
        params = {"uri": str(args.uri), "collection": name}
    elif args.kind == "hnsw":
        params = {
            "m": args.hnsw_m,
            "ef_construction": args.ef_construction,
            "ef_search": args.ef_search,
        }
    runner = make_runner(args, args.model, needed_modalities(args.inputs, args.force))
    lib, summary = build_library(
        runner,
        path,
        args.inputs,
        kind=kind,
        params=params,
        force=args.force,
        progress=progress(args),
        follow_symlinks=args.follow_symlinks,
        tags=args.tags,
    )
    lib.close()
    _cache_text_tower(args, runner)
    print_summary(summary, args.json, target=str(path))
    return 0


def _cache_text_tower(args: argparse.Namespace, runner: Any) -> None:
    """Cache the MiniLM text tower as ONNX when this run loaded it, so that `openbind search`
    answers text queries without torch (`openbind.encoders.minilm_onnx`)."""
    from openbind.cli.search_cmd import cache_text_tower, plain_load

    space = getattr(runner, "space", None)
    if space is not None and any(m.value == "text" for m in space.modalities):
        cache_text_tower(space, list(space.modalities), plain=plain_load(args))


def run_update(args: argparse.Namespace) -> int:
    from openbind.index import Library, resolve_library
    from openbind.pipeline import index_files

    lib = Library.open(resolve_library(args.library))
    try:
        roots = args.inputs or list(lib.manifest.roots)
        runner = make_runner(args, lib.model_id, needed_modalities(roots, args.force))
        summary = index_files(
            runner,
            lib,
            args.inputs or None,
            force=args.force,
            progress=progress(args),
            follow_symlinks=args.follow_symlinks,
            tags=args.tags,
        )
    finally:
        lib.close()
    _cache_text_tower(args, runner)
    print_summary(summary, args.json, target=str(lib.path))
    return 0


def run_watch(args: argparse.Namespace) -> int:
    import sys

    from openbind.index import Library, resolve_library
    from openbind.pipeline import LocalRunner, index_files
    from openbind.pipeline.watch import watch_library

    lib = Library.open(resolve_library(args.library))
    try:
        space = load_space(lib.model_id, [], args.weights, args.fast_images)
        runner = LocalRunner(space)
        first = index_files(runner, lib, force=args.force, progress=False)
        print(
            f"openbind: {lib.path.name}: {first.total} items, watching "
            f"{', '.join(lib.manifest.roots)} (Ctrl-C to stop)",
            file=sys.stderr,
        )

        def report(summary) -> None:
            print(
                f"openbind: +{summary.embedded + summary.reused} -{summary.removed} "
                f"-> {summary.total} items (generation {lib.manifest.generation})",
                file=sys.stderr,
            )
            for s in summary.skipped:
                print(f"openbind: skipped {s.path}: {s.reason}", file=sys.stderr)

        watch_library(runner, lib, force=args.force, on_update=report, debounce_ms=args.debounce_ms)
    finally:
        lib.close()
    return 0


def run_info(args: argparse.Namespace) -> int:
    from openbind.index import Library, resolve_library

    lib = Library.open(resolve_library(args.library))
    info = lib.info()
    lib.close()
    if args.json:
        emit_json(info.to_dict())
    else:
        _print_info(info)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from openbind.index import Library, libraries_dir, list_libraries

    rows = []
    for name in list_libraries():
        lib = Library.open(libraries_dir() / name)
        m = lib.manifest
        rows.append(
            {
                "name": name,
                "model_id": m.model_id,
                "kind": m.kind,
                "count": m.count,
                "updated": m.updated,
            }
        )
        lib.close()
    if args.json:
        emit_json(rows)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"libraries in {libraries_dir()}")
    for col in ("name", "model_id", "kind", "count", "updated"):
        table.add_column(col, justify="right" if col == "count" else "left")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("name", "model_id", "kind", "count", "updated")))
    Console().print(table)
    return 0


def _print_info(info: LibraryInfo) -> None:
    from rich.console import Console
    from rich.table import Table

    m = info.manifest
    table = Table(title=info.path, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    params = ", ".join(f"{k}={v}" for k, v in sorted(m.params.items()))
    rows = [
        ("model", m.model_id),
        ("dimension", str(m.dim)),
        ("index", f"{m.kind} ({params})" if params else m.kind),
        ("scores", m.metric),
        ("items", str(m.count)),
        ("by modality", ", ".join(f"{k}: {v}" for k, v in info.modalities.items()) or "-"),
        ("roots", "\n".join(m.roots) or "-"),
        ("size on disk", human_bytes(info.size_bytes)),
        ("created", m.created),
        ("updated", f"{m.updated} (generation {m.generation})"),
        ("openbind", m.openbind_version),
    ]
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)
