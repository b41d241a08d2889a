"""A library at scale: commit cost per update, reopen, search speed and recall per index kind, RSS.

Data: a mixture of Gaussians (1,000 random unit centres, isotropic noise giving a within-cluster
cosine of about 0.62, renormalised), the shape of real embedding collections; uniform random
vectors would be far harder for the approximate indexes and unlike any real space. Vectors are
stored as float32 (the library has no fp16 storage).

For each index kind (flat, hnsw, ivfpq), in its own child process so that peak RSS is its own:

1. build a library of N x D vectors, added and committed in chunks of 100,000 (the background
   compactions that keep an HNSW graph / IVF-PQ quantiser snapshot are waited for and counted);
2. run `--updates` updates of +1,000 / -100 items, each committed: bytes written
   (`Library.last_commit_bytes`, and the folder's growth) and seconds per update;
3. reopen the library (time to rebuild the in-memory index from segments and snapshots);
4. search fresh queries from the same mixture one at a time (at most `--search-seconds` per
   variant): queries/s and recall@10 against exact search; for ivfpq with the exact re-ranking
   of 10 x k codes (`IVFPQParams.refine`, the default) and without it;
5. peak RSS of the process (before the exact ground truth is computed) against the raw vectors'
   size (N x D x 4 bytes). File pages of the memory-mapped segments count in RSS while mapped.

HNSW builds about a few hundred vectors/s per core at D 1024: `--hnsw-n` (default 50,000)
builds it on a subset, and the table adds the build time extrapolated to N (N log N scaling)
as the bound for the full size.

Usage:
    # full size (10^6 x 1024, 4 GB raw): about 25-35 min on a quiet 2-core machine, peak ~9 GB
    nice -n 10 .venv/bin/python benchmarks/library_scale.py
    # quick (1-3 min)
    .venv/bin/python benchmarks/library_scale.py --n 100000 --dim 256 --hnsw-n 20000

Prints a table and writes benchmarks/results/library_scale.json (`--out` to change).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import shutil
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
    """`n` draws from the mixture: a random centre plus N(0, sigma^2 I), renormalised."""
    d = centres.shape[1]
    sigma = np.sqrt(0.61 / d)  # within-cluster cosine ~0.62, as in benchmarks/index.py
    pick = rng.integers(0, len(centres), n)
    noise = rng.standard_normal(size=(n, d), dtype=np.float32) * np.float32(sigma)
    return unit(centres[pick] + noise)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def exact_top(lib, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids of each query over the library's live vectors, read segment by segment."""
    from openbind.index.segments import SEGMENTS, read_segment

    live = np.sort(lib._index.ids())
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    for name in lib.manifest.segments:
        ids, vectors = read_segment(lib.path / SEGMENTS, name, lib.dim)
        for start in range(0, len(ids), 65536):
            chunk_ids = ids[start : start + 65536]
            keep = np.isin(chunk_ids, live, assume_unique=True)
            if not keep.any():
                continue
            sims = queries @ np.asarray(vectors[start : start + 65536][keep]).T
            all_s = np.concatenate([best_s, sims], axis=1)
            all_i = np.concatenate([best_i, np.broadcast_to(chunk_ids[keep], sims.shape)], axis=1)
            top = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(all_s, top, axis=1)
            best_i = np.take_along_axis(all_i, top, axis=1)
    return best_i


def timed_search(lib, queries: np.ndarray, budget_s: float) -> tuple[list[list[int]], float]:
    """Search queries one at a time until done or `budget_s` passed: (hit ids, queries/s)."""
    found: list[list[int]] = []
    start = time.perf_counter()
    for q in queries:
        found.append([h.id for h in lib.search(q, k=K)])
        if time.perf_counter() - start > budget_s and len(found) >= 5:
            break
    return found, len(found) / (time.perf_counter() - start)


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    pairs = zip(found, truth, strict=True)
    return float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in pairs]))


def run_kind(args: argparse.Namespace, kind: str, folder: Path) -> dict:
    """One index kind, measured in this (child) process."""
    from openbind.index import Library, Record

    dim = args.dim
    n = min(args.n, args.hnsw_n) if kind == "hnsw" else args.n
    params = {
        "flat": None,
        "hnsw": {"m": 32, "ef_construction": 80, "ef_search": 64},
        "ivfpq": {"m": max(1, dim // 16), "nprobe": 32, "train_size": min(n, 50_000)},
    }[kind]
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(1000, dim)).astype(np.float32))
    path = folder / kind
    lib = Library.create(path, model_id="synthetic", dim=dim, kind=kind, params=params)
    data_rng = np.random.default_rng(1)
    started = time.perf_counter()
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        lib.add(
            clustered(data_rng, centres, count),
            [Record(f"item{start + i}", "image") for i in range(count)],
        )
        lib.commit()
    if lib._compactor is not None:
        lib._compactor.join()
    build = time.perf_counter() - started

    per_update, per_bytes, disk_growth = [], [], []
    next_removed = 0
    for u in range(args.updates):
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

    queries = clustered(np.random.default_rng(2), centres, args.queries)
    found, qps = timed_search(lib, queries, args.search_seconds)
    variants = {"": (found, qps)}
    if kind == "ivfpq":  # the same index without the exact re-ranking
        refined = lib._index.params
        lib._index.params = dataclasses.replace(refined, refine=0)
        variants["_no_refine"] = timed_search(lib, queries, args.search_seconds)
        lib._index.params = refined
    peak = peak_rss()
    truth = exact_top(lib, queries, K)
    raw = n * dim * 4
    row = {
        "kind": kind,
        "n": n,
        "dim": dim,
        "params": params,
        "build_s": round(build, 1),
        "build_per_s": round(n / build, 1),
        "update_s": round(float(np.median(per_update)), 4),
        "update_s_all": [round(x, 3) for x in per_update],
        "update_bytes": int(np.median(per_bytes)),
        "update_disk_growth_bytes": int(np.median(disk_growth)),
        "library_bytes": folder_bytes(path),
        "reopen_s": round(reopen, 2),
        "peak_rss_bytes": peak,
        "raw_bytes": raw,
        "rss_over_raw": round(peak / raw, 2),
    }
    for suffix, (hits, rate) in variants.items():
        row[f"queries_per_s{suffix}"] = round(rate, 1)
        row[f"recall_at_10{suffix}"] = round(recall(hits, truth[: len(hits)]), 4)
        row[f"queries_measured{suffix}"] = len(hits)
    if n < args.n:  # HNSW on a subset: extrapolate its build (N log N) as the full-size bound
        row["build_s_extrapolated_to_n"] = round(
            build * (args.n / n) * math.log(args.n) / math.log(n), 0
        )
        row["extrapolated_to_n"] = args.n
    lib.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--kinds", default="flat,ivfpq,hnsw")
    parser.add_argument("--hnsw-n", type=int, default=50_000, help="HNSW library size (subset)")
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--search-seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_kind(args, args.child, Path(args.folder))))
        return
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="openbind-scale-", dir=os.environ.get("TMPDIR")) as d:
        for kind in args.kinds.split(","):
            command = [
                sys.executable,
                __file__,
                *("--child", kind, "--folder", d, "--n", str(args.n), "--dim", str(args.dim)),
                *("--hnsw-n", str(args.hnsw_n), "--updates", str(args.updates)),
                *("--queries", str(args.queries), "--search-seconds", str(args.search_seconds)),
            ]
            t = time.perf_counter()
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            rows[-1]["child_s"] = round(time.perf_counter() - t, 1)
            shutil.rmtree(Path(d) / kind, ignore_errors=True)
            print(f"{kind}: done in {rows[-1]['child_s']} s", file=sys.stderr, flush=True)
    print(f"libraries of {args.n:,} x {args.dim} (hnsw: {min(args.n, args.hnsw_n):,}); updates of")
    print("+1,000 / -100 items; search one query at a time; recall@10 against exact search")
    print(
        f"{'kind':6} {'n':>9} {'build s':>8} {'vec/s':>8} {'upd s':>7} {'upd MB':>7} "
        f"{'lib GB':>7} {'reopen s':>8} {'q/s':>8} {'R@10':>6} {'RSS GB':>7} {'RSS/raw':>7}"
    )
    for r in rows:
        print(
            f"{r['kind']:6} {r['n']:9,} {r['build_s']:8.1f} {r['build_per_s']:8.0f} "
            f"{r['update_s']:7.3f} {r['update_bytes'] / 1e6:7.2f} {r['library_bytes'] / 1e9:7.2f} "
            f"{r['reopen_s']:8.2f} {r['queries_per_s']:8.1f} {r['recall_at_10']:6.3f} "
            f"{r['peak_rss_bytes'] / 1e9:7.2f} {r['rss_over_raw']:7.2f}"
        )
        if "recall_at_10_no_refine" in r:
            print(
                f"{'':6} without re-ranking: {r['queries_per_s_no_refine']:.1f} q/s, "
                f"recall@10 {r['recall_at_10_no_refine']:.3f}"
            )
        if "build_s_extrapolated_to_n" in r:
            print(
                f"{'':6} build extrapolated to {r['extrapolated_to_n']:,}: "
                f"{r['build_s_extrapolated_to_n']:,.0f} s"
            )
    total = time.perf_counter() - started
    print(f"total {total:.0f} s; load average {os.getloadavg()[0]:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "load_average": os.getloadavg(),
                "total_s": round(total, 1),
                "rows": rows,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
