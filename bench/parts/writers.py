"""The writer processes of the `writes` part: each applies its updates to a shared namespace, a given
number per transaction.

Worker processes are spawned once and each loads the default embedder once; for every run the
first `writers` of them open their own store, meet at a barrier, and time only their update loop.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier

import numpy as np

from memory_store import ExperienceStore, StoreConfig, Update, default_embedder
from memory_store.vectors.embedder import Embedder

ACTIONS = ("open item", "add to cart", "go back", "search again")
BARRIER_TIMEOUT_S = 600.0
PROGRESS_EVERY = 10
NEW_TASK = "Buy a new product"


@dataclass(frozen=True)
class WriterJob:
    """What one writer does in one run: `updates` updates, a share of them on new states."""

    url: str
    namespace: str
    writer: int
    writers: int
    updates: int
    seeded: int
    new_fraction: float
    seed: int
    per_transaction: int = 1


@dataclass(frozen=True)
class WriterStats:
    """What one writer did: updates applied, new states among them, loop time, per-update latencies."""

    applied: int
    new_states: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)  # transactions (of one update: to an existing state)
    new_state_latencies_ms: list[float] = field(repr=False)  # one-update transactions creating a state


def seed_update(i: int) -> Update:
    """The update that creates seeded state i (shared by all writers)."""
    return Update(
        f"Buy product {i % 10}", f"Shop page {i}: a list of products.", "seed", target=0.5, reward=0.0
    )


def planned_updates(job: WriterJob) -> list[Update]:
    """The writer's updates: random seeded states (shared with other writers) or new ones."""
    rng = np.random.default_rng([job.seed, job.writer, job.writers])
    plan: list[Update] = []
    for i in range(job.updates):
        action = ACTIONS[int(rng.integers(len(ACTIONS)))]
        target, reward = float(rng.random()), float(rng.random())
        if rng.random() < job.new_fraction:
            task, observation = NEW_TASK, f"Writer {job.writer} of {job.writers}, new page {i}."
        else:
            base = seed_update(int(rng.integers(job.seeded)))
            task, observation = base.task, base.observation
        plan.append(Update(task, observation, action, target=target, reward=reward, last_reward=reward))
    return plan


def run_job(job: WriterJob, embedder: Embedder, barrier: Barrier, progress: Synchronized) -> WriterStats:
    """Open a store, wait for the other writers, then apply the planned updates, `per_transaction`
    per call."""
    plan = planned_updates(job)
    config = StoreConfig(url=job.url, namespace=job.namespace, persist_index=False, use_gpu=False)
    try:
        store = ExperienceStore.open(config, embedder=embedder, create=False)
    except BaseException:
        barrier.abort()
        raise
    latencies: list[float] = []
    new_latencies: list[float] = []
    applied = reported = 0
    with store:
        # An agent embeds each observation to retrieve for it before the update that stores it, so
        # the embedder's cache answers at update time: the same here, before the timed loop.
        store.embed_many([(u.task, u.observation) for u in plan if u.task == NEW_TASK])
        barrier.wait(BARRIER_TIMEOUT_S)
        begin = time.perf_counter()
        size = job.per_transaction
        for i in range(size, len(plan) + size, size):
            batch = plan[i - size : i]
            start = time.perf_counter()
            outcomes = store.apply(batch)
            creates = size == 1 and batch[0].task == NEW_TASK
            (new_latencies if creates else latencies).append((time.perf_counter() - start) * 1000)
            applied += sum(o.status == "updated" for o in outcomes)
            i = min(i, len(plan))
            if i - reported >= PROGRESS_EVERY or i == len(plan):
                with progress.get_lock():
                    progress.value += i - reported
                reported = i
        seconds = time.perf_counter() - begin
    new_states = sum(item.task == NEW_TASK for item in plan)
    return WriterStats(applied, new_states, seconds, latencies, new_latencies)


def worker_main(
    writer: int, jobs: mp.Queue, results: mp.Queue, barriers: dict[int, Barrier], progress: Synchronized
) -> None:
    """A writer process: load the embedder, then run jobs until told to stop (None)."""
    try:
        embedder = default_embedder()
        embedder.embed(["warm-up"])
        results.put(("loaded", writer, None))
        while (job := jobs.get()) is not None:
            results.put(("done", writer, run_job(job, embedder, barriers[job.writers], progress)))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        results.put(("error", writer, traceback.format_exc()))


class WriterPool:
    """Spawned writer processes, reused across runs."""

    def __init__(self, size: int, writer_counts: tuple[int, ...]):
        ctx = mp.get_context("spawn")
        self.results: mp.Queue = ctx.Queue()
        self.progress: Synchronized = ctx.Value("q", 0)
        self.barriers = {n: ctx.Barrier(n) for n in writer_counts}
        self.jobs = [ctx.Queue() for _ in range(size)]
        self.processes = [
            ctx.Process(
                target=worker_main,
                args=(w, self.jobs[w], self.results, self.barriers, self.progress),
                name=f"bench-writer-{w}",
                daemon=True,
            )
            for w in range(size)
        ]
        for process in self.processes:
            process.start()

    def collect(self, count: int, kind: str, advance: Callable[[int], None]) -> dict[int, object]:
        """Wait for `count` messages of `kind`, advancing progress from the shared counter."""
        got: dict[int, object] = {}
        shown = 0
        while len(got) < count:
            try:
                what, writer, payload = self.results.get(timeout=0.2)
            except queue.Empty:
                if any(p.exitcode is not None for p in self.processes):
                    raise RuntimeError("a writer process died without reporting") from None
            else:
                if what == "error":
                    raise RuntimeError(f"writer {writer} failed:\n{payload}")
                if what == kind:
                    got[writer] = payload
            now = self.progress.value
            advance(now - shown)
            shown = now
        return got

    def wait_loaded(self, advance: Callable[[int], None]) -> None:
        """Block until every writer has loaded its embedder."""
        self.collect(len(self.processes), "loaded", lambda n: None)
        advance(len(self.processes))

    def run(self, jobs: list[WriterJob], advance: Callable[[int], None]) -> list[WriterStats]:
        """Run one job per writer (writers 0..len(jobs)-1) and return their stats."""
        with self.progress.get_lock():
            self.progress.value = 0
        for job in jobs:
            self.jobs[job.writer].put(job)
        done = self.collect(len(jobs), "done", advance)
        return [done[w] for w in sorted(done)]  # type: ignore[misc]

    def close(self) -> None:
        """Stop the writers."""
        for jobs in self.jobs:
            jobs.put(None)
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
