"""Follow a library's folders and keep it up to date as files appear, change or vanish.

The file watching is `watchfiles` (inotify / FSEvents / ReadDirectoryChangesW through the Rust
`notify` crate; extra `watch`). Each batch of changes it reports (after `debounce_ms` of quiet)
becomes one incremental update of just those paths (`update_paths`) and one atomic commit, so a
server reading the library (`openbind serve`, which switches to each new generation) shows new
files within about `debounce_ms` plus the time to embed them.

A root that disappears (an unmounted drive, a deleted folder) never empties the library: its items
stay, the watch stops with `WatchError`, and the last committed generation stays served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openbind.errors import BadInput, require
from openbind.index import Library
from openbind.pipeline.report import RunSummary
from openbind.pipeline.to_library import update_paths
from openbind.types import Modality

log = logging.getLogger("openbind.watch")


class WatchError(BadInput):
    """A watched root disappeared or cannot be watched; the library keeps its last commit."""


def watch_library(
    space: Any,
    lib: Library,
    *,
    stop: threading.Event | None = None,
    on_update: Callable[[RunSummary], None] | None = None,
    force: Modality | str | None = None,
    debounce_ms: int = 200,
) -> None:
    """Update `lib` from its roots' file events until `stop` is set (or Ctrl-C).

    Args:
        space: a `Space` or a `Runner`, as for `index_files`.
        lib: the open library (this process becomes its writer while it commits).
        stop: set it to end the watch (from another thread).
        on_update: called with the summary of every update that changed something.
        force: embed every file as this modality.
        debounce_ms: how long the folders must be quiet before a batch of changes is applied.

    Raises:
        WatchError: a root is missing at the start or disappears while watched.
    """
    watchfiles = require("watchfiles", "watch")
    roots = [Path(r) for r in lib.manifest.roots]
    _check_roots(roots, lib)
    stop = stop or threading.Event()
    for changes in watchfiles.watch(
        *roots,
        stop_event=stop,
        debounce=debounce_ms,
        step=20,
        watch_filter=_visible,
        raise_interrupt=False,
        yield_on_timeout=True,
        rust_timeout=1000,
    ):
        _check_roots(roots, lib)
        if not changes:
            continue
        paths = sorted({p for _, p in changes})
        summary = update_paths(space, lib, paths, force=force)
        if summary.embedded or summary.removed or summary.reused:
            log.info(
                "library %s: +%d embedded, %d reused, -%d removed (%d items, generation %d)",
                lib.path.name,
                summary.embedded,
                summary.reused,
                summary.removed,
                summary.total,
                lib.manifest.generation,
            )
            if on_update is not None:
                on_update(summary)


def _check_roots(roots: list[Path], lib: Library) -> None:
    gone = [str(r) for r in roots if not r.exists()]
    if gone:
        raise WatchError(
            f"watched folder {gone[0]} is gone; library {lib.path.name} keeps its items "
            f"(generation {lib.manifest.generation}) until you update it with new roots"
        )


def _visible(change: Any, path: str) -> bool:
    """Skip hidden files and folders (never indexed) and editors' temporary files."""
    name = Path(path).name
    return not (name.startswith(".") or name.endswith(("~", ".tmp", ".swp", ".part")))
