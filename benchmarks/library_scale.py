"""A library at scale: commit cost per update, reopen, search speed and recall per index kind, RSS.

For each index kind (flat, hnsw, ivfpq), in its own child process so that peak RSS is its own:

1. build a library of N x D synthetic clustered unit vectors (1,000 centres + noise, like real
   embeddings), added and committed in chunks of 100,000;
2. run `--updates` updates of 1,000 added and 100 removed items, each committed, and record the
   bytes written (`Library.last_commit_bytes`, checked against the folder's growth) and seconds
   per update: with segments both follow the change, not the library's size;
3. reopen the library (time to build the in-memory index from the segments);
4. search `--queries` fresh queries from the same mixture one at a time: queries/s and recall@10
   against exact search (numpy);
5. peak RSS of the process against the raw vectors' size (N x D x 4 bytes).

Usage (the full size needs about 3x the raw size in RAM for flat; use a smaller --n on a shared
machine):
    .venv/bin/python benchmarks/library_scale.py                     # 10^6 x 1024
    .venv/bin/python benchmarks/library_scale.py --n 50000 --dim 256 --kinds flat,ivfpq

Prints a table and writes benchmarks/results/library_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "library_scale.json"
CHUNK = 100_000
K = 10


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    d = centres.shape[1]
    sigma = np.sqrt(0.61 / d)  # within-cluster cosine ~0.62, as in benchmarks/index.py
    pick = rng.integers(0, len(centres), n)
    return unit(centres[pick] + rng.normal(scale=sigma, size=(n, d)).astype(np.float32))


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_kind(kind: str, n: int, dim: int, updates: int, queries: int, folder: Path) -> dict:
    """One index kind, measured in this (child) process."""
    from openbind.index import Library, Record

    params = {
        "flat": None,
        "hnsw": {"m": 32, "ef_construction": 80, "ef_search": 64},
        "ivfpq": {"m": max(1, dim // 16), "nprobe": 32, "train_size": min(n, 50_000)},
    }[kind]
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(1000, dim)).astype(np.float32))
    path = folder / kind
    lib = Library.create(path, model_id="synthetic", dim=dim, kind=kind, params=params)
    started = time.perf_counter()
    data_rng = np.random.default_rng(1)
    sample = []
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        vectors = clustered(data_rng, centres, count)
        if start == 0:
            sample = vectors[: min(count, 20_000)]
        lib.add(vectors, [Record(f"item{start + i}", "image") for i in range(count)])
        lib.commit()
    build = time.perf_counter() - started

    per_update, per_bytes, disk_growth = [], [], []
    next_removed = 0
    for u in range(updates):
        before = folder_bytes(path)
        t = time.perf_counter()
        lib.add(
            clustered(data_rng, centres, 1000),
            [Record(f"update{u}-{i}", "image") for i in range(1000)],
        )
        lib.remove(list(range(next_removed, next_removed + 100)))
        next_removed += 100
        lib.commit()
        per_update.append(time.perf_counter() - t)
        per_bytes.append(lib.last_commit_bytes)
        disk_growth.append(folder_bytes(path) - before)
    if lib._compactor is not None:
        lib._compactor.join()
    lib.close()

    t = time.perf_counter()
    lib = Library.open(path)
    reopen = time.perf_counter() - t

    query_rng = np.random.default_rng(2)
    q = clustered(query_rng, centres, queries)
    live = lib._index.ids()
    exact_pool = lib.vectors(live)
    truth = np.argsort(-(q @ exact_pool.T), axis=1)[:, :K]
    truth_ids = live[truth]
    t = time.perf_counter()
    found = [[h.id for h in lib.search(v, k=K)] for v in q]
    seconds = time.perf_counter() - t
    recall = float(
        np.mean([len(set(f) & set(e.tolist())) / K for f, e in zip(found, truth_ids, strict=True)])
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    raw = n * dim * 4
    lib.close()
    del sample
    return {
        "kind": kind,
        "n": n,
        "dim": dim,
        "build_s": round(build, 2),
        "update_s": round(float(np.median(per_update)), 4),
        "update_bytes": int(np.median(per_bytes)),
        "update_disk_growth_bytes": int(np.median(disk_growth)),
        "library_bytes": folder_bytes(path),
        "reopen_s": round(reopen, 2),
        "queries_per_s": round(queries / seconds, 1),
        "recall_at_10": round(recall, 4),
        "peak_rss_bytes": peak,
        "raw_bytes": raw,
        "rss_over_raw": round(peak / raw, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--kinds", default="flat,hnsw,ivfpq")
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        row = run_kind(args.child, args.n, args.dim, args.updates, args.queries, Path(args.folder))
        print(json.dumps(row))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="openbind-scale-") as folder:
        for kind in args.kinds.split(","):
            command = [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--folder",
                folder,
                *("--n", str(args.n), "--dim", str(args.dim)),
                *("--updates", str(args.updates), "--queries", str(args.queries)),
            ]
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = (
        f"{'kind':6} {'build s':>8} {'upd s':>7} {'upd bytes':>10} {'lib bytes':>12} "
        f"{'reopen s':>8} {'q/s':>8} {'R@10':>6} {'RSS/raw':>7}"
    )
    print(f"library of {args.n:,} x {args.dim}; updates of +1,000 / -100 items")
    print(header)
    for r in rows:
        print(
            f"{r['kind']:6} {r['build_s']:8.1f} {r['update_s']:7.3f} {r['update_bytes']:10,} "
            f"{r['library_bytes']:12,} {r['reopen_s']:8.2f} {r['queries_per_s']:8.1f} "
            f"{r['recall_at_10']:6.3f} {r['rss_over_raw']:7.2f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"load_average": os.getloadavg(), "rows": rows, "args": vars(args)}, indent=1)
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
