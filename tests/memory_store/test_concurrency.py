"""Several processes writing one database at once lose no update, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable

import numpy as np
import pytest

from memory_store import ExperienceStore, StoreConfig, state_text
from memory_store.store import open_database
from tests.memory_store import writers

WORKERS = 8


def run_workers(target: Callable, url: str, steps: int, vectors: list[np.ndarray]) -> None:
    """Start WORKERS spawned processes on `target`, release them together, and require clean exits."""
    open_database(url).close()  # create the schema once, before the race
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS)
    processes = [
        context.Process(target=target, args=(url, worker, steps, start, vectors[worker]))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    assert [p.exitcode for p in processes] == [0] * WORKERS


@pytest.mark.slow
def test_eight_writers_on_one_state_and_action_lose_nothing(db_url, embedder):
    steps = 500
    vector = embedder.embed([state_text(writers.TASK, writers.SHARED)])
    run_workers(writers.write_shared, db_url, steps, [vector] * WORKERS)
    with ExperienceStore.open(StoreConfig(url=db_url, persist_index=False), embedder=embedder) as store:
        record = store.get(writers.TASK, writers.SHARED)
    action = record.action("keep watch")
    values = [writers.shared_value(w, s) for w in range(WORKERS) for s in range(steps)]
    assert record.visits == action.visits == WORKERS * steps == 4000
    assert action.q == pytest.approx(math.fsum(values) / len(values), abs=1e-9)
    assert action.reward == pytest.approx(math.fsum(values) / len(values), abs=1e-9)


@pytest.mark.slow
def test_eight_writers_inserting_their_own_states_all_land(db_url, embedder):
    steps = 40
    texts = [
        state_text(writers.TASK, writers.own_observation(w, s)) for w in range(WORKERS) for s in range(steps)
    ]
    vectors = embedder.embed(texts).reshape(WORKERS, steps, -1)
    run_workers(writers.write_own, db_url, steps, list(vectors))
    with ExperienceStore.open(StoreConfig(url=db_url, persist_index=False), embedder=embedder) as store:
        assert len(store) == WORKERS * steps
        assert len(store.index) == WORKERS * steps
        for worker in range(WORKERS):
            for step in (0, steps - 1):
                record = store.get(writers.TASK, writers.own_observation(worker, step))
                assert record is not None and record.visits == 1
        hit = store.top_k(writers.TASK, writers.own_observation(3, 7), k=1)[0]
        assert hit.experience.observation == writers.own_observation(3, 7)
