"""Isolation under attack: do one-line text embeddings keep their latency while the worst
inputs of issue 18 are being sent?

Starts `openbind serve` (starter space, rate limit off) in a subprocess on a free loopback port.
Phase 1 (quiet): `--clients` clients send one-line `/v1/embeddings` texts back to back for
`--duration` seconds. Phase 2 (attack): the same, while `--attackers` clients cycle through the
worst inputs: a 20 MB text, a 16000 x 10000 MJPEG AVI, an 8192 x 4320 H.264 MP4, a one-hour mp3
(all as base64 `/v1/embeddings`), a `/classify` with 5,000 labels and one with the most labels
allowed (fresh ones each time, so no cache helps). The attackers run in their own process, as
they would on their own machines (they still share this machine's cores); each sends its next
input when the last is answered. Reports the small requests' p50 / p99 in both phases (goal:
attack p99 at most 2x quiet), what the attacks got back, and the CPU seconds of the server, its
worker processes, the small-request clients and the attackers in each phase.

Usage:
    .venv/bin/python benchmarks/serve_isolation.py [--duration 30] [--clients 4] [--attackers 2]

Needs ffmpeg for the media inputs (rows without it are left out). Prints a table and writes
benchmarks/results/serve_isolation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections import Counter
from pathlib import Path

from bombs import make
from serve_load import free_port, percentile, wait_ready

RESULTS = Path(__file__).parent / "results" / "serve_isolation.json"
MEDIA = {
    "mjpeg-16000x10000.avi": "video",
    "h264-8192x4320.mp4": "video",
    "hour.mp3": "audio",
}


def serve(port: int, timeout_s: float, probe: Path | None, model_workers: int) -> None:
    import torch
    import uvicorn

    import openbind
    from openbind.serve.app import ServeSettings, create_app
    from openbind.serve.service import Service

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `openbind serve`: the model runs in forked workers
    service = Service(openbind.load("starter"), timeout_s=timeout_s, model_threads=threads)
    service._batcher.light_workers = int(os.environ.get("LW", "1"))
    service._batcher.light_threads = int(os.environ.get("LT", "1"))
    app = create_app(service, ServeSettings(rate_limit=0, max_upload_bytes=64 * 2**20))
    if probe is None:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)
        return
    record = Probe(app, service)
    try:  # uvicorn re-raises the SIGINT that stopped it: KeyboardInterrupt
        uvicorn.run(record, host="127.0.0.1", port=port, log_level="warning", backlog=4096)
    finally:
        probe.write_text(json.dumps(record.events))
        probe.with_suffix(".stalls.json").write_text(json.dumps(record.stalls, indent=0))


class Probe:
    """Where small requests spend their time, recorded in the server (`--probe`).

    Events, each with its `time.monotonic()` stamp (the same clock in every process):
    ("lag", t, s): how late a 10 ms sleep of the event loop woke up;
    ("small", t, s): server-side time of a small `/v1/embeddings` request;
    ("light", t, s) / ("heavy", t, s): one batch of the light lane / a heavy lane, from the
    server handing it to its worker to its rows coming back.
    """

    def __init__(self, app, service) -> None:
        self.app, self.events, self._lag = app, [], None
        self.stalls: list[tuple[float, float, list[str]]] = []
        threading.Thread(target=self._watch_gil, daemon=True).start()
        batcher = service._batcher
        run = batcher._run

        async def timed(lane, batch):
            t0 = time.monotonic()
            try:
                return await run(lane, batch)
            finally:
                self.events.append(("heavy" if lane[1] else "light", t0, time.monotonic() - t0))

        batcher._run = timed

    def _watch_gil(self) -> None:
        """After each wait of over 50 ms for the GIL, where the other threads are (the one
        that held it is usually just past the long call)."""
        me = threading.get_ident()
        while True:
            t0 = time.monotonic()
            time.sleep(0.005)
            waited = time.monotonic() - t0 - 0.005
            if waited > 0.05:
                where = []
                for ident, frame in sys._current_frames().items():
                    if ident != me:
                        stack = traceback.extract_stack(frame)[-4:]
                        where.append(" < ".join(f"{f.name}:{f.lineno}" for f in reversed(stack)))
                self.stalls.append((t0, waited, where))

    async def _watch_lag(self) -> None:
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(0.01)
            self.events.append(("lag", t0, time.monotonic() - t0 - 0.01))

    async def __call__(self, scope, receive, send) -> None:
        if self._lag is None and scope["type"] == "http":
            self._lag = asyncio.get_running_loop().create_task(self._watch_lag())
        size = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if scope.get("path") != "/v1/embeddings" or int(size) > 1000:
            await self.app(scope, receive, send)
            return
        t0 = time.monotonic()
        await self.app(scope, receive, send)
        self.events.append(("small", t0, time.monotonic() - t0))


def cpu_seconds(server: int) -> dict[str, float]:
    """CPU seconds used so far by the server process, its worker processes and this one."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(pid: int) -> tuple[int, float]:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick  # ppid, utime+stime

    workers = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent, seconds = used(int(entry))
            except OSError:
                continue
            if parent == server:
                workers += seconds
    return {"server": used(server)[1], "workers": workers, "clients": used(os.getpid())[1]}


def attacks(folder: Path, model: str) -> list[tuple[str, str, dict]]:
    """(name, path, request kwargs) of every worst input."""
    from openbind.limits import MAX_LABELS

    def as_json(body: dict) -> dict:  # encoded once: the clients' own loop must not stall
        return {
            "content": json.dumps(body).encode(),
            "headers": {"content-type": "application/json"},
        }

    out = [
        ("text-20mb", "/v1/embeddings", as_json({"model": model, "input": "a dog " * 3_500_000}))
    ]
    for name, modality in MEDIA.items():
        try:
            path = make(name, folder)
        except (FileNotFoundError, subprocess.SubprocessError):
            continue
        data = base64.b64encode(path.read_bytes()).decode()
        body = {"model": model, "modality": modality, "input": data}
        out.append((name, "/v1/embeddings", as_json(body)))
    labels = ",".join(f"label number {i}" for i in range(5000))
    form = urllib.parse.urlencode({"text": "a dog", "labels": labels}).encode()  # once, too
    kind = {"content-type": "application/x-www-form-urlencoded"}
    out.append(("classify-5000-labels", "/classify", {"content": form, "headers": kind}))
    out.append(("classify-max-labels", "/classify", {"fresh_labels": MAX_LABELS}))
    return out


async def run_phase(
    url: str, model: str, clients: int, duration: float, attack: list | None, attackers: int
) -> tuple[list[float], int, Counter, list[float]]:
    """The small requests' latencies and failures, and (with `attack`) what the attackers got
    back and how long they waited. The attackers run in their own process, as they would on
    their own machines: the work of building and sending 20 MB bodies must not stall the loop
    that times the small requests (they still share this machine's cores with the server)."""
    import httpx

    small: list[float] = []
    failed = 0
    stop = time.monotonic() + duration
    attacking = None
    if attack:
        results = multiprocessing.get_context("fork").SimpleQueue()
        attacking = multiprocessing.get_context("fork").Process(
            target=_attack_process, args=(url, attack, attackers, stop, results)
        )
        attacking.start()
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:

        async def client(c: int) -> None:
            nonlocal failed
            n = 0
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = await http.post(
                    "/v1/embeddings", json={"model": model, "input": f"a dog number {c}-{n}"}
                )
                if r.status_code == 200:
                    small.append(time.perf_counter() - t0)
                else:
                    failed += 1
                n += 1

        await asyncio.gather(*(client(c) for c in range(clients)))
    if attacking is None:
        return small, failed, Counter(), []
    outcomes, attack_times, attack_cpu = results.get()
    attacking.join()
    outcomes["(attacker process CPU seconds)"] = round(attack_cpu, 1)
    return small, failed, outcomes, attack_times


def _attack_process(url: str, attack: list, attackers: int, stop: float, results) -> None:
    outcomes, times = asyncio.run(_attack(url, attack, attackers, stop))
    used = os.times()
    results.put((outcomes, times, used.user + used.system))


async def _attack(
    url: str, attack: list, attackers: int, stop: float
) -> tuple[Counter, list[float]]:
    """`attackers` clients cycling through `attack` until `stop` (each sends its next input
    when the last is answered)."""
    import httpx

    outcomes: Counter = Counter()
    attack_times: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:

        async def attacker(a: int) -> None:
            k, round_ = a, 0
            while time.monotonic() < stop:
                name, path, kw = attack[k % len(attack)]
                kw = dict(kw)
                if "fresh_labels" in kw:
                    count = kw.pop("fresh_labels")
                    labels = ",".join(f"thing {a}-{round_}-{i}" for i in range(count))
                    kw["data"] = {"text": "a dog", "labels": labels}
                t0 = time.perf_counter()
                r = await http.post(path, **kw)
                attack_times.append(time.perf_counter() - t0)
                code = r.json().get("error", {}).get("code") if r.status_code != 200 else ""
                outcomes[f"{name}: {r.status_code} {code}".strip()] += 1
                k += attackers
                round_ += 1

        await asyncio.gather(*(attacker(a) for a in range(attackers)))
    return outcomes, attack_times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    p.add_argument("--clients", type=int, default=4, help="one-line text clients")
    p.add_argument("--attackers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60.0, help="the server's time budget")
    p.add_argument("--model-workers", type=int, default=2, help="the server's model workers")
    p.add_argument("--keep", type=Path, default=Path(__file__).parent / "results" / "bombs")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--probe", action="store_true", help="also record where small requests spend their time"
    )
    p.add_argument("--only", help="send only the attack inputs whose name contains this")
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--probe-file", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.timeout, args.probe_file, args.model_workers)
        return 0

    args.keep.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "src"))  # this checkout's openbind, as the server uses
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    probe_file = args.out.with_suffix(".probe.json") if args.probe else None
    command = [sys.executable, __file__, "--serve", str(port), "--timeout", str(args.timeout)]
    command += ["--model-workers", str(args.model_workers)]
    if probe_file is not None:
        probe_file.parent.mkdir(parents=True, exist_ok=True)
        command += ["--probe-file", str(probe_file)]
    server = subprocess.Popen(command, env=env)
    windows: dict[str, tuple[float, float]] = {}
    try:
        health = asyncio.run(wait_ready(url, timeout=300))
        model = health["model"]
        attack = [a for a in attacks(args.keep, model) if not args.only or args.only in a[0]]
        print(f"server ready ({model}); {len(attack)} attack inputs", file=sys.stderr)
        asyncio.run(run_phase(url, model, args.clients, 3, None, 0))  # warm-up
        t0, cpu0 = time.monotonic(), cpu_seconds(server.pid)
        quiet = asyncio.run(run_phase(url, model, args.clients, args.duration, None, 0))
        windows["quiet"] = (t0, time.monotonic())
        cpu1 = cpu_seconds(server.pid)
        loud = asyncio.run(
            run_phase(url, model, args.clients, args.duration, attack, args.attackers)
        )
        windows["attack"] = (windows["quiet"][1], time.monotonic())
        cpu2 = cpu_seconds(server.pid)
        cpu = {
            "quiet": {k: round(cpu1[k] - cpu0[k], 1) for k in cpu0},
            "attack": {k: round(cpu2[k] - cpu1[k], 1) for k in cpu0},
        }
    finally:
        server.send_signal(signal.SIGINT)  # lets a probing server write its record
        server.wait(timeout=60)

    def summary(phase: tuple) -> dict:
        small, failed, outcomes, attack_times = phase
        return {
            "small_requests": len(small),
            "small_failed": failed,
            "p50_ms": round(1000 * percentile(small, 50), 1),
            "p99_ms": round(1000 * percentile(small, 99), 1),
            "max_ms": round(1000 * max(small, default=float("nan")), 1),
            "attack_outcomes": dict(outcomes),
            "attack_p50_s": round(percentile(attack_times, 50), 2) if attack_times else None,
        }

    result = {
        "quiet": summary(quiet),
        "attack": summary(loud),
        "clients": args.clients,
        "attackers": args.attackers,
        "duration_s": args.duration,
        "timeout_s": args.timeout,
        "model_workers": args.model_workers,
        "cpu_seconds": cpu,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    ratio = result["attack"]["p99_ms"] / max(result["quiet"]["p99_ms"], 1e-9)
    result["p99_ratio"] = round(ratio, 2)
    result["goal"] = "met" if ratio <= 2 else "missed"
    if probe_file is not None and probe_file.is_file():
        result["probe"] = probed(json.loads(probe_file.read_text()), windows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for phase in ("quiet", "attack"):
        s = result[phase]
        print(
            f"{phase:7} {s['small_requests']:6} small requests ({s['small_failed']} failed)  "
            f"p50 {s['p50_ms']:8.1f} ms  p99 {s['p99_ms']:8.1f} ms  max {s['max_ms']:8.1f} ms"
        )
    print(f"p99 attack / quiet = {ratio:.2f} (goal <= 2: {result['goal']})")
    for phase, used in cpu.items():
        print(f"  CPU seconds, {phase}: " + ", ".join(f"{k} {v}" for k, v in used.items()))
    for k, v in sorted(result["attack"]["attack_outcomes"].items()):
        print(f"  attack {k}: {v}")
    for phase, kinds in result.get("probe", {}).items():
        for kind, s in kinds.items():
            print(
                f"  probe {phase:7} {kind:6} n={s['n']:6}  p50 {s['p50_ms']:8.1f} ms  "
                f"p99 {s['p99_ms']:8.1f} ms  max {s['max_ms']:8.1f} ms"
            )
    return 0


def probed(events: list, windows: dict[str, tuple[float, float]]) -> dict:
    """Percentiles of each kind of probe event, per phase."""
    out: dict = {}
    for phase, (start, end) in windows.items():
        kinds: dict[str, list[float]] = {}
        for kind, t, seconds in events:
            if start <= t <= end:
                kinds.setdefault(kind, []).append(seconds)
        out[phase] = {
            kind: {
                "n": len(v),
                "p50_ms": round(1000 * percentile(v, 50), 1),
                "p99_ms": round(1000 * percentile(v, 99), 1),
                "max_ms": round(1000 * max(v), 1),
            }
            for kind, v in sorted(kinds.items())
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
