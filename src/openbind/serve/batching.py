"""Dynamic batching: concurrent embedding requests of one modality share one forward pass.

Each lane has an asyncio queue. A worker takes the first waiting request, then keeps
collecting for at most `max_wait_ms` or until `max_items` items are gathered, encodes all of
them in one call off the event loop, and hands every request its own rows. A bad item fails
only the request it came from; the others of the batch still get their embeddings.

No request starves the others. Requests are sorted into two kinds of lanes:

* the light lane of a modality: short texts (at most `light_chars` characters in all) and
  ready tensors, run by `light_workers` model workers at normal priority;
* heavy lanes: everything that must be decoded (image, video, audio, ... files) and long texts,
  one lane per modality, run by a bounded pool of `heavy_workers` at the lowest CPU priority
  (`heavy_nice`), so a 30 s video decode never sits in front of a one-line text, and the model
  worker gets the CPU first when both want it.

The workers are threads, or, with `processes`, worker processes forked from this one (they
share the loaded model's memory copy-on-write): the model workers with `light_threads` torch
threads each, the heavy ones with `heavy_threads` each. Processes isolate far better. A decoder or
tokenizer in a thread holds the GIL for up to tens of milliseconds at a time, and so does the
event loop when a flood of requests keeps it busy; each of the model's hundreds of torch calls
per forward pass must take the GIL back, and waits up to the 5 ms switch interval for it each
time (a flood of cheaply refused requests made a 27 ms forward pass take 300 ms). In their own
processes the model and the heavy jobs compete for the CPU only, and the heavy ones, in the
idle scheduling class (below nice 19, which still gets about 1.5% of a core that the model
wants), run only on what the rest leaves.

Every request has a time budget (`timeout_s`): past it the caller gets `RequestTimeout`
(the work already started finishes in the background; its result is dropped). `run` puts any
other expensive call (a named job, such as zero-shot label embeddings) on the heavy pool under
the same budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from openbind.errors import BadInput, RequestTimeout
from openbind.space.protocol import EncodeReport, ItemError
from openbind.types import Embeddings, Modality

EncodeFn = Callable[[Modality, list[Any]], EncodeReport]
"""Encode items of one modality, skipping bad ones (like `Space.encode_report`)."""

Lane = tuple[Modality, bool]  # (modality, heavy)


@dataclass
class _Request:
    items: list[Any]
    future: asyncio.Future[Embeddings]


@dataclass(frozen=True)
class BatchStats:
    """What the batcher has done so far.

    Attributes:
        requests: requests answered (with embeddings or an error).
        batches: encode calls made; `requests / batches` is the merge factor.
        items: items encoded.
        timeouts: requests (and `run` calls) that went over their time budget.
    """

    requests: int = 0
    batches: int = 0
    items: int = 0
    timeouts: int = 0


@dataclass
class Batcher:
    """Merge concurrent `submit` calls into batched encode calls.

    Args:
        encode: runs one batch of one modality (called by a model worker or the heavy pool).
        max_items: stop collecting once a batch has this many items (a larger single request
            still runs, alone).
        max_wait_ms: how long the first request of a batch waits for company.
        timeout_s: time budget of one request, from `submit` to its rows (None: none).
        heavy_workers: threads (or processes) that decode and encode heavy requests.
        heavy_nice: how much lower the heavy workers' CPU priority is (Linux nice increment;
            19, the most, puts them at nice 19, and worker processes in the idle scheduling
            class).
        light_chars: text requests of at most this many characters in all share the light lane.
        processes: run the model worker and the heavy workers as processes forked from this
            one (where the platform can fork) instead of threads. `encode` and `jobs` then run
            in the children: they must not rely on state changed after the fork, and their
            arguments, results and errors travel pickled.
        light_workers: model workers: how many batches of a light lane run at once.
        light_threads: torch threads of each model worker process. One: a process forked after
            torch has run a parallel region (loading the model does) hangs in its own first
            parallel region (GNU OpenMP's thread pool does not survive a fork).
        heavy_threads: torch threads of each heavy worker process.
        jobs: named functions that `run` may call on the heavy pool.

    Example:
        >>> batcher = Batcher(lambda m, items: space.encode_report(m, items))
        >>> emb = await batcher.submit(Modality.TEXT, ["a dog", "a cat"])
    """

    encode: EncodeFn
    max_items: int = 64
    max_wait_ms: float = 5.0
    timeout_s: float | None = 60.0
    heavy_workers: int = 1
    heavy_nice: int = 19
    light_chars: int = 4096
    processes: bool = False
    light_workers: int = 1
    light_threads: int = 1
    heavy_threads: int = 1
    jobs: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    _queues: dict[Lane, asyncio.Queue[_Request]] = field(default_factory=dict, init=False)
    _workers: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _pools: dict[bool, Executor] = field(default_factory=dict, init=False)  # by heaviness
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _stats: BatchStats = field(default_factory=BatchStats, init=False)

    @property
    def stats(self) -> BatchStats:
        return self._stats

    async def submit(self, modality: Modality, items: Sequence[Any]) -> Embeddings:
        """Embed `items` of `modality` together with whatever else arrives meanwhile.

        Raises:
            BadInput: one of `items` cannot be embedded; the message starts with its position
                ("input 2: ...").
            MissingModality: the space has no tower for `modality`.
            RequestTimeout: no answer within `timeout_s`.
        """
        if not items:
            raise BadInput("no items to embed")
        loop = asyncio.get_running_loop()
        request = _Request(list(items), loop.create_future())
        self._queue((modality, self._is_heavy(request.items))).put_nowait(request)
        try:
            return await asyncio.wait_for(request.future, self.timeout_s)
        except TimeoutError:
            self._timed_out()
            raise RequestTimeout(self.timeout_s or 0.0) from None

    async def run(self, job: str, *args: Any, what: str = "the request") -> Any:
        """`jobs[job](*args)` on the heavy pool, within the time budget.

        Raises:
            RequestTimeout: it took longer than `timeout_s` (it finishes in the background).
        """
        try:
            return await asyncio.wait_for(self._on_pool(True, job, args), self.timeout_s)
        except TimeoutError:
            self._timed_out()
            raise RequestTimeout(self.timeout_s or 0.0, what) from None

    def start(self) -> None:
        """Start the workers now (worker processes are forked here, not at the first request,
        which would fork a process already running the server's threads)."""
        for heavy in (False, True):
            pool = self._pool(heavy)
            if isinstance(pool, ProcessPoolExecutor):
                pool.submit(os.getpid).result()

    async def close(self) -> None:
        """Stop the lanes and the workers; waiting requests are cancelled."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        for queue in self._queues.values():
            while not queue.empty():
                queue.get_nowait().future.cancel()
        self._queues.clear()
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self._pools.clear()
        _JOBS.pop(id(self), None)

    # -- internals -----------------------------------------------------------------------------

    def _is_heavy(self, items: list[Any]) -> bool:
        """Whether items need decoding (anything but strings and tensors) or are long texts."""
        chars = 0
        for item in items:
            if isinstance(item, str):
                chars += len(item)
            elif not isinstance(item, torch.Tensor):
                return True
        return chars > self.light_chars

    def _pool(self, heavy: bool) -> Executor:
        """The model worker (`heavy` False) or the heavy pool, started when first needed."""
        pool = self._pools.get(heavy)
        if pool is not None:
            return pool
        workers = self.heavy_workers if heavy else self.light_workers
        nice = self.heavy_nice if heavy else 0
        if self.processes and "fork" in multiprocessing.get_all_start_methods():
            _JOBS[id(self)] = self._functions()  # what the fork inherits
            threads = self.heavy_threads if heavy else self.light_threads
            pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(nice, threads),
            )
        else:
            pool = ThreadPoolExecutor(
                max_workers=workers,
                thread_name_prefix="openbind-heavy" if heavy else "openbind-model",
                initializer=_lower_priority,
                initargs=(nice,),
            )
        self._pools[heavy] = pool
        return pool

    async def _on_pool(self, heavy: bool, job: str, args: tuple) -> Any:
        """`job(*args)` on the model worker or the heavy pool ("encode" is `self.encode`)."""
        pool = self._pool(heavy)
        loop = asyncio.get_running_loop()
        if not isinstance(pool, ProcessPoolExecutor):
            return await loop.run_in_executor(pool, self._functions()[job], *args)
        spilled: list[str] = []
        try:
            args = _spill(args, spilled)
            try:
                future = loop.run_in_executor(pool, _in_worker, id(self), job, args)
            except BrokenProcessPool:  # the worker died between jobs: this job is not to blame
                self._drop(heavy, pool)
                pool = self._pool(heavy)
                future = loop.run_in_executor(pool, _in_worker, id(self), job, args)
            answer = await future
        except BrokenProcessPool:  # the worker died on this job (out of memory?): fork a new one
            self._drop(heavy, pool)
            raise BadInput(
                "the worker process stopped while handling it (killed, or out of memory)"
            ) from None
        finally:  # read by now, or never to be (timed out): either way not needed any more
            for path in spilled:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        return _unpack(answer)

    def _functions(self) -> dict[str, Callable[..., Any]]:
        """The heavy pool's jobs by name: "encode" and `jobs`."""
        return {"encode": self.encode, **self.jobs}

    def _drop(self, heavy: bool, pool: Executor) -> None:
        if self._pools.get(heavy) is pool:
            del self._pools[heavy]
            pool.shutdown(wait=False, cancel_futures=True)

    def _timed_out(self) -> None:
        s = self._stats
        self._stats = BatchStats(s.requests, s.batches, s.items, s.timeouts + 1)

    def _queue(self, lane: Lane) -> asyncio.Queue[_Request]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # queues and workers belong to one event loop
            self._loop = loop
            self._queues.clear()
            self._workers.clear()
        queue = self._queues.get(lane)
        if queue is None:
            queue = self._queues[lane] = asyncio.Queue()
            for _ in range(1 if lane[1] else self.light_workers):  # batches run at once
                self._workers.append(asyncio.create_task(self._work(lane, queue)))
        return queue

    async def _work(self, lane: Lane, queue: asyncio.Queue[_Request]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            count = len(batch[0].items)
            deadline = loop.time() + self.max_wait_ms / 1000
            while count < self.max_items:
                if queue.empty():
                    await asyncio.sleep(0)  # let requests that are already readable enqueue
                if queue.empty():
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        request = await asyncio.wait_for(queue.get(), timeout)
                    except TimeoutError:
                        break
                else:
                    request = queue.get_nowait()
                batch.append(request)
                count += len(request.items)
            try:
                await self._run(lane, batch)
            except Exception as e:  # never let one batch stop the worker
                for r in batch:
                    _resolve(r, error=e)

    async def _run(self, lane: Lane, batch: list[_Request]) -> None:
        live = [r for r in batch if not r.future.done()]  # a timed-out client costs nothing
        if not live:
            return
        modality, heavy = lane
        items = [item for r in live for item in r.items]
        try:
            if heavy or self.light_workers < 2 or len(items) < 2:
                report = await self._on_pool(heavy, "encode", (modality, items))
            else:
                report = await self._spread(modality, items)
        except Exception as e:  # the whole batch failed (missing tower, model error)
            for r in live:
                _resolve(r, error=e)
            self._count(len(live), len(items))
            return
        _distribute(live, report, modality)
        self._count(len(live), len(items))

    async def _spread(self, modality: Modality, items: list[Any]) -> EncodeReport:
        """One light batch split over the model workers, each encoding its share on its own
        (one torch thread each: no op waits for a thread that lost its core), in one report."""
        n = min(self.light_workers, len(items))
        starts = [len(items) * i // n for i in range(n + 1)]
        parts = itertools.pairwise(starts)
        reports = await asyncio.gather(
            *(self._on_pool(False, "encode", (modality, items[a:b])) for a, b in parts)
        )
        first = reports[0].embeddings
        return EncodeReport(
            Embeddings(
                torch.cat([r.embeddings.vectors for r in reports]), first.modality, first.model_id
            ),
            [start + k for r, start in zip(reports, starts, strict=False) for k in r.kept],
            [_moved(e, start) for r, start in zip(reports, starts, strict=False) for e in r.errors],
            [
                _moved(e, start)
                for r, start in zip(reports, starts, strict=False)
                for e in r.truncated
            ],
        )

    def _count(self, requests: int, items: int) -> None:
        s = self._stats
        self._stats = BatchStats(s.requests + requests, s.batches + 1, s.items + items, s.timeouts)


_JOBS: dict[int, dict[str, Callable[..., Any]]] = {}
"""The functions of each process-pool `Batcher` (by id), set before its workers are forked."""


def _start_worker(nice: int, threads: int) -> None:
    """Set up a forked heavy worker: its signals, torch threads and priority.

    The fork copied the server's signal handling (uvicorn's handlers, the event loop's wakeup
    fd): Ctrl-C is ignored (the server shuts its worker down itself), SIGTERM ends the worker
    at once, and no signal writes into the server's event loop.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    torch.set_num_threads(threads)
    _lower_priority(nice)
    if nice >= 19:  # the most: the idle class, which runs only when no normal thread wants a core
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


SPILL_BYTES = 1 << 20
"""Arguments and items larger than this (bytes) reach a worker process through a file in
/dev/shm written by `os.write` (which lets the GIL go), not pickled through its pipe: pickling
copies them holding the GIL, 0.2-0.35 s for 20 MB on a loaded machine."""
_SPILL_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@dataclass(frozen=True)
class _Spilled:
    path: str
    text: bool


def _spill(value: Any, paths: list[str]) -> Any:
    """`value` with its large bytes and strings (in nested lists and tuples) in files."""
    if isinstance(value, list | tuple):
        return type(value)(_spill(v, paths) for v in value)
    if isinstance(value, bytes | bytearray) and len(value) > SPILL_BYTES:
        data, text = value, False
    elif isinstance(value, str) and len(value) > SPILL_BYTES:
        data, text = value.encode("utf-8", "surrogatepass"), True
    else:
        return value
    fd, path = tempfile.mkstemp(prefix="openbind-", dir=_SPILL_DIR)
    paths.append(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return _Spilled(path, text)


def _unspill(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return type(value)(_unspill(v) for v in value)
    if isinstance(value, _Spilled):
        with open(value.path, "rb") as f:
            data = f.read()
        return data.decode("utf-8", "surrogatepass") if value.text else data
    return value


def _in_worker(key: int, job: str, args: tuple) -> Any:
    """Run `job` of batcher `key` in a worker process; the answer travels without tensors
    (torch would pass them through shared memory, which a one-shot answer does not need)."""
    try:
        return _pack(_JOBS[key][job](*_unspill(args)))
    except Exception as e:
        raise _portable(e) from None


def _pack(value: Any) -> Any:
    if isinstance(value, Embeddings):
        return ("embeddings", value.vectors.detach().numpy(), value.modality, value.model_id)
    if isinstance(value, EncodeReport):
        return ("report", _pack(value.embeddings), value.kept, value.errors, value.truncated)
    return ("value", value)


def _unpack(answer: Any) -> Any:
    kind, *rest = answer
    if kind == "embeddings":
        vectors, modality, model_id = rest
        return Embeddings(torch.from_numpy(vectors), modality, model_id)
    if kind == "report":
        embeddings, kept, errors, truncated = rest
        return EncodeReport(_unpack(embeddings), kept, errors, truncated)
    return rest[0]


def _portable(e: Exception) -> Exception:
    """`e` if it survives pickling, else an error of the nearest type that does."""
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        message = str(e)
        return BadInput(message) if isinstance(e, BadInput) else RuntimeError(message)


def _lower_priority(increment: int) -> None:
    """Lower this thread's CPU priority (Linux threads have their own nice value)."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)


def _moved(error: ItemError, offset: int) -> ItemError:
    return replace(error, index=error.index + offset)


def _distribute(requests: list[_Request], report: EncodeReport, modality: Modality) -> None:
    """Give each request its rows of `report`, or the error of its first bad item."""
    rows = {position: row for row, position in enumerate(report.kept)}
    errors = {e.index: e for e in report.errors}
    vectors = report.embeddings.vectors
    start = 0
    for r in requests:
        positions = range(start, start + len(r.items))
        start += len(r.items)
        bad = next((errors[p] for p in positions if p in errors), None)
        if bad is not None:
            error = BadInput(bad.reason).at(bad.index - positions.start, modality.value)
            _resolve(r, error=error)
            continue
        picked = vectors[[rows[p] for p in positions]]
        emb = Embeddings(picked, report.embeddings.modality, report.embeddings.model_id)
        _resolve(r, result=emb)


def _resolve(
    request: _Request, *, result: Embeddings | None = None, error: BaseException | None = None
) -> None:
    if request.future.done():
        return
    if error is not None:
        request.future.set_exception(error)
    else:
        request.future.set_result(result)
