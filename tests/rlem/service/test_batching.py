"""The batcher's rule, on its own: a lone request never waits; expected requests are waited for."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from rlem.service.batching import Batcher


def batches_of(arrivals: list[float], *, expected: list[int], wait_s: float, decide_s: float = 0.0) -> list:
    """The batches formed when requests arrive at `arrivals` (seconds from the start), with
    `expected()` answering `expected[0]` minus the requests that have arrived so far."""
    formed: list[list[int]] = []

    def decide(items):
        formed.append(list(items))
        time.sleep(decide_s)
        return list(items)

    async def main():
        with ThreadPoolExecutor(1) as pool:
            arrived = 0

            def still_to_come() -> int:
                return max(expected[0] - arrived, 0)

            batcher = Batcher(decide, pool, wait_s=wait_s, max_batch=64, expected=still_to_come)
            batcher.start()

            async def one(i: int, at: float):
                nonlocal arrived
                await asyncio.sleep(at)
                arrived += 1
                return await batcher.submit(i)

            started = time.perf_counter()
            answers = await asyncio.gather(*(one(i, at) for i, at in enumerate(arrivals)))
            await batcher.stop()
            return answers, time.perf_counter() - started

    answers, _ = asyncio.run(main())
    assert [answer for answer, _ in answers] == list(range(len(arrivals)))
    return formed


def test_a_lone_request_is_decided_without_waiting():
    started = time.perf_counter()
    formed = batches_of([0.0], expected=[1], wait_s=5.0)
    assert formed == [[0]] and time.perf_counter() - started < 2.0  # not the 5 s window


def test_expected_requests_are_waited_for_and_the_unexpected_are_not():
    # Three requests 50 ms apart, all expected: one batch.
    assert batches_of([0.0, 0.05, 0.1], expected=[3], wait_s=0.5) == [[0, 1, 2]]
    # The same requests, none expected after the first: each is decided as it comes.
    assert batches_of([0.0, 0.05, 0.1], expected=[1], wait_s=0.5) == [[0], [1], [2]]


def test_the_wait_for_stragglers_ends():
    # A fourth request is expected but never comes: the three are decided after the window.
    started = time.perf_counter()
    assert batches_of([0.0, 0.01, 0.02], expected=[4], wait_s=0.2) == [[0, 1, 2]]
    assert time.perf_counter() - started < 3.0
