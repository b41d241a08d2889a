"""Load test of `openbind serve`: many concurrent clients on loopback, no request may fail.

Starts the server itself (uvicorn in a subprocess on a free 127.0.0.1 port, rate limit off),
then runs `--clients` asyncio + httpx clients (in this process) for `--duration` seconds. Each client sends
OpenAI-style `POST /v1/embeddings` requests (one short text each, all different) back to back.
Dynamic batching merges the concurrent requests into shared forward passes; the merge factor
is read from `/health` at the end. CPU time per request of the server and of the clients, and
the machine's load average, are recorded too: on a shared machine they tell whether the server
or the machine was the limit.

Spaces: `starter` (the real offline space: MiniLM text tower) or `tiny` (a hashed bag-of-words
text tower, to measure the HTTP and batching overhead alone).

Usage:
    .venv/bin/python benchmarks/serve_load.py [--space starter|tiny] [--clients 200] [--duration 60]

Prints a table and writes benchmarks/results/serve_load.json; exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openbind.space.model import SpaceModel

RESULTS = Path(__file__).parent / "results" / "serve_load.json"
WORDS = (
    "cat",
    "dog",
    "rocket",
    "coffee",
    "red",
    "car",
    "music",
    "river",
    "night",
    "sound",
    "bird",
    "street",
)


# -- the server (child process) -----------------------------------------------------------------


def tiny_space() -> SpaceModel:
    """A 64-d text-only space: words hashed into 1024 buckets, then a fixed random projection."""
    import zlib

    import torch

    from openbind.space.encoder import Encoder
    from openbind.space.model import SpaceModel

    class HashText(torch.nn.Module):
        modality = "text"
        out_dim = 64
        logit_scale = 1.0

        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(1024, 64, bias=False)
            torch.nn.init.normal_(self.proj.weight, generator=torch.Generator().manual_seed(0))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x)

    def bag(text: str) -> torch.Tensor:
        x = torch.zeros(1, 1024)
        for w in text.lower().split():
            x[0, zlib.crc32(w.encode()) % 1024] += 1.0
        x[0, 0] += 1e-3
        return x

    return SpaceModel("tiny_hash.bench", {"text": Encoder(HashText(), bag)}, dim=64)


def serve(space_name: str, port: int) -> None:
    import uvicorn

    import openbind
    from openbind.serve.app import ServeSettings, create_app
    from openbind.serve.service import Service

    space = tiny_space() if space_name == "tiny" else openbind.load(space_name)
    app = create_app(Service(space), ServeSettings(rate_limit=0))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)


# -- the clients ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(url: str, timeout: float) -> dict:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                r = await client.get(f"{url}/health", timeout=2)
                if r.status_code == 200:
                    return r.json()
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError(f"server at {url} not ready after {timeout:.0f} s")


async def load(
    url: str, model: str, clients: int, duration: float
) -> tuple[list[float], list[str], float]:
    """Run the clients; returns latencies (s) of successful requests, failures, wall time."""
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        start = time.monotonic()
        stop = start + duration

        async def client(c: int) -> None:
            n = 0
            while time.monotonic() < stop:
                text = f"{WORDS[(c + n) % len(WORDS)]} {WORDS[(c * 7 + n) % len(WORDS)]} number {c}-{n}"
                t0 = time.perf_counter()
                try:
                    r = await http.post("/v1/embeddings", json={"model": model, "input": text})
                    ok = r.status_code == 200 and len(r.json()["data"]) == 1
                    if ok:
                        latencies.append(time.perf_counter() - t0)
                    else:
                        failures.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as e:
                    failures.append(f"{type(e).__name__}: {e}")
                n += 1

        await asyncio.gather(*(client(c) for c in range(clients)))
        return latencies, failures, time.monotonic() - start


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of process `pid` (Linux /proc), or of this process."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return (
        ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
        if ordered
        else float("nan")
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--space", default="starter", help="starter (or any registered space) or tiny")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # child mode
    args = p.parse_args()
    if args.serve:
        serve(args.space, args.serve)
        return 0

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, __file__, "--space", args.space, "--serve", str(port)]
    )
    try:
        health = asyncio.run(wait_ready(url, timeout=300))
        print(
            f"server ready: {health['model']} on {url}; {args.clients} clients for {args.duration:.0f} s",
            file=sys.stderr,
        )
        server_cpu0, client_cpu0, load0 = cpu_seconds(server.pid), cpu_seconds(), os.getloadavg()[0]
        latencies, failures, wall = asyncio.run(
            load(url, health["model"], args.clients, args.duration)
        )
        server_cpu, client_cpu = cpu_seconds(server.pid) - server_cpu0, cpu_seconds() - client_cpu0
        load1 = os.getloadavg()[0]
        after = asyncio.run(wait_ready(url, timeout=10))
    finally:
        server.terminate()
        server.wait(timeout=30)

    result = {
        "space": health["model"],
        "clients": args.clients,
        "duration_s": round(wall, 2),
        "requests": len(latencies) + len(failures),
        "failed": len(failures),
        "throughput_rps": round(len(latencies) / wall, 1),
        "latency_ms": {
            "p50": round(1000 * percentile(latencies, 50), 1),
            "p90": round(1000 * percentile(latencies, 90), 1),
            "p99": round(1000 * percentile(latencies, 99), 1),
            "max": round(1000 * max(latencies, default=float("nan")), 1),
        },
        "server_batches": after["batches"],
        "requests_per_batch": round(after["requests"] / max(1, after["batches"]), 1),
        "cpu_ms_per_request": {
            "server": round(1000 * server_cpu / max(1, len(latencies)), 2),
            "clients": round(1000 * client_cpu / max(1, len(latencies)), 2),
        },
        "load_average_1min": [round(load0, 2), round(load1, 2)],
        "first_failures": failures[:5],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    lat = result["latency_ms"]
    rows = [
        ("space", result["space"]),
        ("clients", result["clients"]),
        ("duration (s)", result["duration_s"]),
        ("requests", result["requests"]),
        ("failed", result["failed"]),
        ("throughput (req/s)", result["throughput_rps"]),
        (
            "latency p50 / p90 / p99 / max (ms)",
            f"{lat['p50']} / {lat['p90']} / {lat['p99']} / {lat['max']}",
        ),
        ("requests per forward pass", result["requests_per_batch"]),
        (
            "CPU ms per request: server / clients",
            f"{result['cpu_ms_per_request']['server']} / {result['cpu_ms_per_request']['clients']}",
        ),
        ("machine load average (before, after)", result["load_average_1min"]),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"written {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
