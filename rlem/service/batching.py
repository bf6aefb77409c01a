"""Decisions batched across clients: act requests from concurrent episodes are gathered and decided
together, off the event loop.

A batch closes when every episode in mid-step has asked (`expected` counts those still to come:
their last answer is recent, no act of theirs is in flight), when it reaches `max_batch`, or after
`batch_wait_ms` or a quarter of the last batch's decision time, whichever is longer, counted from
when its first request came or the last decision ended, whichever is later. Waiting for the
stragglers keeps concurrent clients in one batch instead of alternating partial batches, and costs
at most a quarter of a decision; a lone client never waits. While one batch is being decided the
next one gathers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from rlem.service.errors import ApiError


@dataclass
class Pending:
    """One request waiting for its batch, and where its answer goes."""

    item: Any
    future: asyncio.Future
    queued: float


# Decides a whole batch on the agent thread: one answer (or exception) per item, in order.
Decide = Callable[[Sequence[Any]], list[Any]]
# The share of the last decision's time a batch may wait for requests still expected.
STRAGGLER_SHARE = 0.25


class Batcher:
    """Gathers items into batches for one function run on one executor."""

    def __init__(
        self,
        decide: Decide,
        executor: Executor,
        *,
        wait_s: float,
        max_batch: int,
        expected: Callable[[], int] = lambda: 0,
    ):
        self.decide, self.executor, self.expected = decide, executor, expected
        self.wait_s, self.max_batch = wait_s, max_batch
        self.last_decide_s = 0.0
        self.queue: list[Pending] = []
        self.arrived = asyncio.Event()
        self.worker: asyncio.Task | None = None

    def start(self) -> None:
        """Begin gathering (in the running event loop)."""
        self.worker = asyncio.create_task(self.gather(), name="rlem-batcher")

    async def submit(self, item: Any) -> tuple[Any, float]:
        """The answer to `item`, decided in some batch, and the seconds it waited for that batch."""
        future = asyncio.get_running_loop().create_future()
        self.queue.append(Pending(item, future, time.perf_counter()))
        self.arrived.set()
        return await future

    async def gather(self) -> None:
        """Form and decide batches until cancelled."""
        loop = asyncio.get_running_loop()
        free = time.perf_counter()
        while True:
            await self.arrived.wait()
            # The wait starts when the batch could start: requests that came during the last decision
            # waited for it anyway, and those it answered are now on their way back.
            first = max(self.queue[0].queued, free) if self.queue else time.perf_counter()
            longest = max(self.wait_s, STRAGGLER_SHARE * self.last_decide_s)
            while len(self.queue) < self.max_batch and self.expected() > 0:
                left = first + longest - time.perf_counter()
                if left <= 0:
                    break
                self.arrived.clear()
                try:
                    await asyncio.wait_for(self.arrived.wait(), left)
                except TimeoutError:
                    break
            batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch :]
            if not self.queue:
                self.arrived.clear()
            if not batch:
                continue
            started = time.perf_counter()
            try:
                answers = await loop.run_in_executor(self.executor, self.decide, [p.item for p in batch])
            except Exception as exc:  # a failure of the whole batch reaches each of its requests
                answers = [exc] * len(batch)
            free = time.perf_counter()
            self.last_decide_s = free - started
            for pending, answer in zip(batch, answers, strict=True):
                if pending.future.done():
                    continue
                if isinstance(answer, BaseException):
                    pending.future.set_exception(answer)
                else:
                    pending.future.set_result((answer, started - pending.queued))
            await asyncio.sleep(0)  # the answered requests record their steps before `expected` counts

    async def stop(self) -> None:
        """Stop gathering; requests still queued fail."""
        if self.worker is not None:
            self.worker.cancel()
            try:
                await self.worker
            except asyncio.CancelledError:
                pass
        for pending in self.queue:
            if not pending.future.done():
                pending.future.set_exception(ApiError(503, "unavailable", "the server is stopping: retry"))
        self.queue = []
