"""Decisions batched across clients: act requests from concurrent episodes are gathered for up to
`batch_wait_ms` (or until `max_batch` wait) and decided together, off the event loop.

While one batch is being decided the next one gathers, so under load batches fill by themselves;
a lone client waits at most `batch_wait_ms` more than it would alone.
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


class Batcher:
    """Gathers items into batches for one function run on one executor."""

    def __init__(self, decide: Decide, executor: Executor, *, wait_s: float, max_batch: int):
        self.decide, self.executor = decide, executor
        self.wait_s, self.max_batch = wait_s, max_batch
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
        while True:
            await self.arrived.wait()
            first = self.queue[0].queued if self.queue else time.perf_counter()
            while len(self.queue) < self.max_batch:
                left = first + self.wait_s - time.perf_counter()
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
            for pending, answer in zip(batch, answers, strict=True):
                if pending.future.done():
                    continue
                if isinstance(answer, BaseException):
                    pending.future.set_exception(answer)
                else:
                    pending.future.set_result((answer, started - pending.queued))

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
