"""`rlem bench` part `writes`: updates/s with 1, 4 and 8 writer processes (`bench.parts.writers`) on
SQLite and PostgreSQL, in `ExperienceStore.apply` transactions of 1 and of 64 updates, and no update
lost.

Each writer is a spawned process with its own store and the default MiniLM embedder; states shared
by all writers are created before timing, and each writer applies its updates to random ones of
them, a small share to new states (their texts embedded before timing, as an agent embeds each
observation to retrieve for it before the update that stores it: the embedder's cache answers).
Only the update loops are timed, from a common barrier; updates/s counts all updates, p50/p99 are
the latencies of transactions (with one update: of those to existing states), new-state p50 that of
one-update transactions creating a state. `no_lost_updates`: the visits summed over all action
values and over all states both equal the updates applied (seeding included).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench.machine import load_average
from bench.parts.context import Context, ratio
from bench.parts.writers import WriterJob, WriterPool, seed_update
from memory_store import ExperienceStore, StoreConfig, open_database
from memory_store.db.models import ActionValue, Experience, Namespace
from memory_store.vectors.embedder import Embedder


@dataclass(frozen=True)
class WriteParams:
    """Sizes and settings of the writes part."""

    updates_per_writer: int
    states_per_writer: int
    writer_counts: tuple[int, ...] = (1, 4, 8)
    per_transaction: tuple[int, ...] = (1, 64)
    new_state_fraction: float = 0.02
    seed: int = 20230607


FULL = WriteParams(updates_per_writer=1500, states_per_writer=50)
# Two writers at most: each is a process loading torch and the embedder, slow to start on 2 cores.
QUICK = replace(
    FULL, updates_per_writer=40, states_per_writer=10, writer_counts=(1, 2), per_transaction=(1, 8)
)


@dataclass(frozen=True)
class UpdateResult:
    """Throughput of one (backend, writers) run; `skipped` says why a run could not happen.

    `updates_per_s` counts every update; `p50_ms`/`p99_ms` are the latencies of updates to existing
    states (the write path), `new_state_p50_ms` that of updates creating a state (embedding included).
    `load_avg_1m`, taken right after the run, tells whether other work on the machine skewed it.
    """

    backend: str
    writers: int
    per_transaction: int
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
    per_transaction: int,
) -> UpdateResult:
    """Seed a fresh namespace, run `writers` writers against it, and check that no update was lost."""
    namespace = f"bench-{writers}w-{per_transaction}"
    seeded = states_per_writer * writers
    config = StoreConfig(url=url, namespace=namespace, persist_index=False, use_gpu=False)
    with ExperienceStore.open(config, embedder=embedder) as store:
        store.apply([seed_update(i) for i in range(seeded)])
    jobs = [
        WriterJob(url, namespace, w, writers, per_writer, seeded, new_fraction, seed, per_transaction)
        for w in range(writers)
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
        per_transaction=per_transaction,
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


def skipped(backend: str, writers: int, per_transaction: int, reason: str) -> UpdateResult:
    """A run that could not happen, with the same fields as one that did."""
    return UpdateResult(
        backend, writers, per_transaction, 0, 0, None, None, None, None, None, None, None, skipped=reason
    )


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


def update_phase(
    params: WriteParams, embedder: Embedder, progress: Progress, workdir: Path, pg_url: str
) -> list[dict]:
    """SQLite and PostgreSQL update throughput with each writer count; PostgreSQL rows say why they
    were skipped when its server does not answer."""
    loading = progress.add_task("starting writer processes", total=max(params.writer_counts))
    pool = WriterPool(max(params.writer_counts), params.writer_counts)
    results: list[UpdateResult] = []
    try:
        pool.wait_loaded(partial(progress.advance, loading))

        def run(backend: str, url: str, writers: int, size: int) -> UpdateResult:
            task = progress.add_task(
                f"{backend} updates, {writers} writer(s), {size} a transaction",
                total=writers * params.updates_per_writer,
            )
            return run_updates(
                pool,
                backend,
                url,
                writers,
                params.updates_per_writer,
                params.states_per_writer,
                params.new_state_fraction,
                params.seed,
                embedder,
                partial(progress.advance, task),
                size,
            )

        runs = [(size, writers) for size in params.per_transaction for writers in params.writer_counts]
        for size, writers in runs:
            results.append(
                run("sqlite", f"sqlite:///{workdir / f'updates-{writers}w-{size}.db'}", writers, size)
            )
        try:
            database = scratch_postgres(pg_url)
            url = database.__enter__()
        except Exception as exc:  # noqa: BLE001 - no server: record why and go on
            reason = f"PostgreSQL unavailable: {str(exc).splitlines()[0]}"
            results += [skipped("postgresql", w, size, reason) for size, w in runs]
        else:
            try:
                for size, writers in runs:
                    results.append(run("postgresql", url, writers, size))
            finally:
                database.__exit__(None, None, None)
    finally:
        pool.close()
    return [r.as_dict() for r in results]


def section(context: Context, progress: Progress) -> dict[str, Any]:
    """Updates/s with each writer count on SQLite and PostgreSQL, against one writer and against
    each other; no update may be lost."""
    params = QUICK if context.quick else FULL
    rows = update_phase(params, context.embedder(), progress, context.workdir, context.pg_url)
    rate = {(r["backend"], r["writers"], r["per_transaction"]): r["updates_per_s"] for r in rows}
    ran = [r["no_lost_updates"] for r in rows if r["skipped"] is None]
    keys = (
        "writer_counts",
        "per_transaction",
        "updates_per_writer",
        "states_per_writer",
        "new_state_fraction",
    )
    one, many = params.per_transaction[0], params.per_transaction[-1]
    return {
        "params": {key: getattr(params, key) for key in keys},
        "rows": rows,
        "no_lost_updates": all(ran) if ran else None,
        "vs_one_writer": {
            f"{backend} {writers} {size}": ratio(rate[backend, writers, size], rate[backend, 1, size])
            for backend, writers, size in rate
            if writers != 1
        },
        "postgresql_vs_sqlite": {
            f"{writers} {size}": ratio(rate["postgresql", writers, size], rate["sqlite", writers, size])
            for size, writers in [(s, w) for s in params.per_transaction for w in params.writer_counts]
        },
        # The same writers with `many` updates a transaction against one.
        "batched_vs_single": {
            f"{backend} {writers}": ratio(rate[backend, writers, many], rate[backend, writers, one])
            for backend, writers, size in rate
            if size == many
        },
    }
