"""Dynamic batching: concurrent embedding requests of one modality share one forward pass.

Each modality has an asyncio queue. A worker takes the first waiting request, then keeps
collecting for at most `max_wait_ms` or until `max_items` items are gathered, encodes all of
them in one call on a single model thread, and hands every request its own rows. A bad item
fails only the request it came from; the others of the batch still get their embeddings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from openbind.errors import BadInput
from openbind.space.model import EncodeReport
from openbind.types import Embeddings, Modality

EncodeFn = Callable[[Modality, list[Any]], EncodeReport]
"""Encode items of one modality, skipping bad ones (like `SpaceModel.encode_report`)."""


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
    """

    requests: int = 0
    batches: int = 0
    items: int = 0


@dataclass
class Batcher:
    """Merge concurrent `submit` calls into batched encode calls.

    Args:
        encode: runs one batch of one modality (called on the model thread).
        max_items: stop collecting once a batch has this many items (a larger single request
            still runs, alone).
        max_wait_ms: how long the first request of a batch waits for company.

    Example:
        >>> batcher = Batcher(lambda m, items: space.encode_report(m, items))
        >>> emb = await batcher.submit(Modality.TEXT, ["a dog", "a cat"])
    """

    encode: EncodeFn
    max_items: int = 64
    max_wait_ms: float = 5.0
    _queues: dict[Modality, asyncio.Queue[_Request]] = field(default_factory=dict, init=False)
    _workers: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _executor: ThreadPoolExecutor | None = field(default=None, init=False)
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
        """
        if not items:
            raise BadInput("no items to embed")
        loop = asyncio.get_running_loop()
        request = _Request(list(items), loop.create_future())
        self._queue(modality).put_nowait(request)
        return await request.future

    async def close(self) -> None:
        """Stop the workers and the model thread; waiting requests are cancelled."""
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
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- internals -----------------------------------------------------------------------------

    def _queue(self, modality: Modality) -> asyncio.Queue[_Request]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # queues and workers belong to one event loop
            self._loop = loop
            self._queues.clear()
            self._workers.clear()
        queue = self._queues.get(modality)
        if queue is None:
            queue = self._queues[modality] = asyncio.Queue()
            self._workers.append(asyncio.create_task(self._work(modality, queue)))
        return queue

    async def _work(self, modality: Modality, queue: asyncio.Queue[_Request]) -> None:
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
                await self._run(modality, batch)
            except Exception as e:  # never let one batch stop the worker
                for r in batch:
                    _resolve(r, error=e)

    async def _run(self, modality: Modality, batch: list[_Request]) -> None:
        live = [r for r in batch if not r.future.done()]  # a cancelled client costs nothing
        if not live:
            return
        items = [item for r in live for item in r.items]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openbind-model")
        loop = asyncio.get_running_loop()
        try:
            report = await loop.run_in_executor(self._executor, self.encode, modality, items)
        except Exception as e:  # the whole batch failed (missing tower, model error)
            for r in live:
                _resolve(r, error=e)
            self._count(len(live), len(items))
            return
        _distribute(live, report, modality)
        self._count(len(live), len(items))

    def _count(self, requests: int, items: int) -> None:
        s = self._stats
        self._stats = BatchStats(s.requests + requests, s.batches + 1, s.items + items)


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
