"""Writer processes for the concurrency tests (a module of its own so spawned children can import it).

The states they write are embedded by the parent with the real model and handed over, so each
child starts in well under a second and the test measures the database, not model loading.
"""

from __future__ import annotations

from multiprocessing.synchronize import Barrier

import numpy as np

from memory_store import ExperienceStore, StoreConfig, Update
from memory_store.vectors.embedder import default_embedder

TASK = "Guard the gate."
SHARED = "The gate is closed and the road is empty."


def shared_value(worker: int, step: int) -> float:
    """The target each worker writes at each step: small integers, so the exact mean is known."""
    return float((worker * 7 + step) % 11)


def own_observation(worker: int, step: int) -> str:
    """A state that only one worker writes."""
    return f"Worker {worker} reports post {step}: a cart of hay at the gate."


def write_shared(url: str, worker: int, steps: int, start: Barrier, vectors: np.ndarray) -> None:
    """Apply `steps` updates, one transaction each, to the same state and action as every other worker."""
    with ExperienceStore.open(
        StoreConfig(url=url, persist_index=False), embedder=default_embedder()
    ) as store:
        start.wait()
        for step in range(steps):
            value = shared_value(worker, step)
            store.apply(
                [Update(TASK, SHARED, "keep watch", target=value, reward=value, embedding=vectors[0])]
            )


def write_own(url: str, worker: int, steps: int, start: Barrier, vectors: np.ndarray) -> None:
    """Insert `steps` states of this worker's own, one transaction each (vectors: this worker's rows)."""
    with ExperienceStore.open(
        StoreConfig(url=url, persist_index=False), embedder=default_embedder()
    ) as store:
        start.wait()
        for step in range(steps):
            observation = own_observation(worker, step)
            store.apply(
                [Update(TASK, observation, "let it pass", target=1.0, reward=1.0, embedding=vectors[step])]
            )
