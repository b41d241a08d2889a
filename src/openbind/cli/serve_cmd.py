"""`openbind serve`: the HTTP API and web page over a space and, optionally, an indexed library.

openbind serve --index demo                 # http://127.0.0.1:8000
openbind serve --index demo --watch         # also follow the library's folders
openbind serve --model starter --port 9000 --api-key s3cret

The server always serves the newest committed generation of its library: commits by
`openbind index update` or `index watch` in other processes show on the next request.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import TYPE_CHECKING

from openbind.cli.embed_cmd import add_load_options, speed_options

if TYPE_CHECKING:
    from fastapi import FastAPI

    from openbind.serve.app import ServeSettings

API_KEY_ENV = "OPENBIND_API_KEY"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP API and web page",
        description="Serve OpenAI-compatible /v1/embeddings, /search, /classify, /media and a web "
        "page for searching an indexed library. Binds to 127.0.0.1 unless told otherwise.",
    )
    p.add_argument("--index", metavar="NAME|PATH", help="library to search (a name or a folder)")
    p.add_argument(
        "--watch",
        action="store_true",
        help="follow the library's folders and index files as they appear, change or vanish",
    )
    p.add_argument("--model", help="space to load (default: the library's, else starter)")
    add_load_options(p, threads_help="torch threads of each model worker process (default: 1)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument(
        "--api-key",
        help=f"require this key on every path but /health (default: ${API_KEY_ENV} if set)",
    )
    p.add_argument("--labels", help="default zero-shot labels, comma-separated")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=32.0,
        help="largest request body (default: %(default)s)",
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        default=1200.0,
        help="requests per minute per client, 0 for no limit (default: %(default)s)",
    )
    p.add_argument(
        "--batch-items",
        type=int,
        default=64,
        help="items per merged forward pass (default: %(default)s)",
    )
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=5.0,
        help="how long a request waits for company (default: %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="time budget of one request; past it the answer is 503 (default: %(default)s)",
    )
    p.add_argument(
        "--model-workers",
        type=_at_least_one,
        default=2,
        metavar="N",
        help="processes that embed short texts, one batch each at a time (media, long texts "
        "and label lists go to one more, at the lowest CPU priority) (default: %(default)s)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=run)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Load the space (and library), then serve until interrupted."""
    import uvicorn

    app, settings = build(args)
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    service = app.state.service
    lib = service.health()
    library = (
        f"library {lib.library!r} ({lib.items} items)"
        if lib.library
        else "no library (search disabled)"
    )
    print(
        f"openbind: serving {service.model_id} with {library} at {where}/ (API docs: {where}/docs)",
        file=sys.stderr,
    )
    if settings.api_key is None and args.host not in LOOPBACK:
        print(
            f"openbind: warning: {args.host} is reachable from other machines and no --api-key is set",
            file=sys.stderr,
        )
    stop = start_watch(service, args) if args.watch else None
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        if stop is not None:
            stop.set()
    return 0


def start_watch(service: object, args: argparse.Namespace) -> threading.Event:
    """Run `openbind index watch` for the served library in a background thread.

    The watcher writes through its own `Library` object; the service's reader switches to each
    commit. If the watch stops (a folder disappears), the server goes on serving the last commit.
    """
    from openbind.errors import BadInput, OpenbindError
    from openbind.index import Library
    from openbind.pipeline import index_files
    from openbind.pipeline.watch import watch_library

    library = getattr(service, "library", None)
    if library is None:
        raise BadInput("--watch needs --index: there is no library to keep up to date")
    stop = threading.Event()

    def follow() -> None:
        writer = Library.open(library.path)
        try:
            index_files(service.space, writer, progress=False)  # type: ignore[attr-defined]
            watch_library(service.space, writer, stop=stop)  # type: ignore[attr-defined]
        except OpenbindError as e:
            print(f"openbind: watch stopped: {e}", file=sys.stderr)
        finally:
            writer.close()

    threading.Thread(target=follow, name="openbind-watch", daemon=True).start()
    return stop


def build(args: argparse.Namespace) -> tuple[FastAPI, ServeSettings]:
    """The app and its settings from the command line (loads the space and opens the library)."""
    import torch

    import openbind
    from openbind.errors import BadInput
    from openbind.index import Library, resolve_library
    from openbind.serve.app import ServeSettings, create_app
    from openbind.serve.service import Service

    library = None
    model = args.model
    if args.index:
        path = resolve_library(args.index)
        if not Library.exists(path):
            raise BadInput(
                f"no library at {path}; build one with `openbind index build DIR --name NAME`"
            )
        library = Library.open(path)
        model = model or library.model_id
    preprocess = {"image": {"fast": True}} if args.fast_images else None
    options = speed_options(args)
    # This process runs no model: its worker processes do (`Service`), and one forked after
    # torch ran on several threads would hang in its first parallel region.
    threads, options["threads"] = options["threads"] or 1, 1
    torch.set_num_threads(1)  # before loading, which may run torch on several threads
    space = openbind.load(
        model or "starter", weights=args.weights, preprocess=preprocess, **options
    )
    if library is not None:
        library.manifest.check(model_id=space.model_id, dim=space.dim, where=str(library.path))
    labels = (
        {"default": [x.strip() for x in args.labels.split(",") if x.strip()]}
        if args.labels
        else None
    )
    service = Service(
        space,
        library,
        label_sets=labels,
        max_batch_items=args.batch_items,
        max_wait_ms=args.batch_wait_ms,
        timeout_s=args.timeout,
        model_workers=args.model_workers,
        model_threads=threads,
    )
    settings = ServeSettings(
        api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        rate_limit=args.rate_limit,
    )
    return create_app(service, settings), settings
