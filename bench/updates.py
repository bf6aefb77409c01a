"""Update throughput: writer processes applying one update per transaction to a shared namespace.

Worker processes are spawned once and each loads the default embedder once; for every run the
first `writers` of them open their own store, meet at a barrier, and time only their update loop.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import secrets
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier

import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench.machine import load_average
from memory_store import ExperienceStore, StoreConfig, Update, default_embedder, open_database
from memory_store.db.models import ActionValue, Experience, Namespace
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


@dataclass(frozen=True)
class WriterStats:
    """What one writer did: updates applied, new states among them, loop time, per-update latencies."""

    applied: int
    new_states: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)  # updates of existing states
    new_state_latencies_ms: list[float] = field(repr=False)


@dataclass(frozen=True)
class UpdateResult:
    """Throughput of one (backend, writers) run; `skipped` says why a run could not happen.

    `updates_per_s` counts every update; `p50_ms`/`p99_ms` are the latencies of updates to existing
    states (the write path), `new_state_p50_ms` that of updates creating a state (embedding included).
    `load_avg_1m`, taken right after the run, tells whether other work on the machine skewed it.
    """

    backend: str
    writers: int
    updates: int
    new_states: int
    seconds: float | None
    updates_per_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    new_state_p50_ms: float | None
    no_lost_updates: bool | None
    load_avg_1m: float | None
    skipped: str | None = None

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


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
    """Open a store, wait for the other writers, then apply the planned updates one per call."""
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
        barrier.wait(BARRIER_TIMEOUT_S)
        begin = time.perf_counter()
        for i, item in enumerate(plan, 1):
            start = time.perf_counter()
            (outcome,) = store.apply([item])
            (new_latencies if item.task == NEW_TASK else latencies).append(
                (time.perf_counter() - start) * 1000
            )
            applied += outcome.status == "updated"
            if i - reported >= PROGRESS_EVERY or i == len(plan):
                with progress.get_lock():
                    progress.value += i - reported
                reported = i
        seconds = time.perf_counter() - begin
    return WriterStats(applied, len(new_latencies), seconds, latencies, new_latencies)


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


def visit_sums(url: str, namespace: str) -> tuple[int, int]:
    """(sum of action visits, sum of state visits) over the namespace."""
    db = open_database(url, create=False)
    try:
        with db.read() as session:
            ns_id = session.scalar(select(Namespace.id).where(Namespace.name == namespace))
            actions = session.scalar(
                select(func.coalesce(func.sum(ActionValue.visits), 0))
                .join(Experience)
                .where(Experience.namespace_id == ns_id)
            )
            states = session.scalar(
                select(func.coalesce(func.sum(Experience.visits), 0)).where(Experience.namespace_id == ns_id)
            )
        return int(actions or 0), int(states or 0)
    finally:
        db.close()


def run_updates(
    pool: WriterPool,
    backend: str,
    url: str,
    writers: int,
    per_writer: int,
    states_per_writer: int,
    new_fraction: float,
    seed: int,
    embedder: Embedder,
    advance: Callable[[int], None],
) -> UpdateResult:
    """Seed a fresh namespace, run `writers` writers against it, and check that no update was lost."""
    namespace = f"bench-{writers}w"
    seeded = states_per_writer * writers
    config = StoreConfig(url=url, namespace=namespace, persist_index=False, use_gpu=False)
    with ExperienceStore.open(config, embedder=embedder) as store:
        store.apply([seed_update(i) for i in range(seeded)])
    jobs = [
        WriterJob(url, namespace, w, writers, per_writer, seeded, new_fraction, seed) for w in range(writers)
    ]
    stats = pool.run(jobs, advance)
    applied = sum(s.applied for s in stats)
    action_visits, state_visits = visit_sums(url, namespace)
    seconds = max(s.seconds for s in stats)
    latencies = np.concatenate([np.asarray(s.latencies_ms) for s in stats])
    new_latencies = [ms for s in stats for ms in s.new_state_latencies_ms]
    return UpdateResult(
        backend=backend,
        writers=writers,
        updates=applied,
        new_states=sum(s.new_states for s in stats),
        seconds=round(seconds, 3),
        updates_per_s=round(applied / seconds, 1),
        p50_ms=round(float(np.percentile(latencies, 50)), 3),
        p99_ms=round(float(np.percentile(latencies, 99)), 3),
        new_state_p50_ms=round(float(np.median(new_latencies)), 3) if new_latencies else None,
        no_lost_updates=action_visits == state_visits == seeded + applied,
        load_avg_1m=load_average(),
    )


def skipped(backend: str, writers: int, reason: str) -> UpdateResult:
    """A run that could not happen, with the same fields as one that did."""
    return UpdateResult(backend, writers, 0, 0, None, None, None, None, None, None, None, skipped=reason)


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database `rlem_bench_*` for the block, dropped afterwards; yields its URL."""
    name = f"rlem_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(
        make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield (
                make_url(admin_url)
                .set(drivername="postgresql+psycopg", database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
