"""Clustered synthetic embeddings, and a SQLite store filled with them in bulk (no embedder calls)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import insert, update

from memory_store import open_database
from memory_store.db.models import ActionValue, Experience, Namespace, action_hash, state_hash, utcnow
from memory_store.db.namespaces import open_namespace

ACTIONS = ("click search", "type query")
FILL_CHUNK = 5000


@dataclass(frozen=True)
class Clusters:
    """Unit cluster centres in `dim` dimensions; points are a centre plus gaussian noise, normalised."""

    centres: np.ndarray
    noise: float

    @classmethod
    def make(cls, count: int, dim: int, noise: float, seed: int) -> Clusters:
        """`count` random unit centres."""
        centres = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
        return cls(centres / np.linalg.norm(centres, axis=1, keepdims=True), noise)

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """n unit vectors and the cluster each was drawn around."""
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, len(self.centres), n)
        points = self.centres[labels] + self.noise * rng.standard_normal((n, self.centres.shape[1]))
        points = points.astype(np.float32)
        return points / np.linalg.norm(points, axis=1, keepdims=True), labels


def state_rows(
    namespace_id: int, vectors: np.ndarray, labels: np.ndarray, first_id: int
) -> tuple[list[dict], list[dict]]:
    """Experience rows (explicit ids from `first_id`) and two ActionValue rows for each."""
    now = utcnow()
    states: list[dict] = []
    actions: list[dict] = []
    for offset, (vector, label) in enumerate(zip(vectors, labels.tolist(), strict=True)):
        state_id = first_id + offset
        task = f"Find item {label} in the shop"
        observation = f"Page {state_id}: results for item {label}, sorted by price, {offset % 7} filters on."
        states.append(
            {
                "id": state_id,
                "namespace_id": namespace_id,
                "state_hash": state_hash(task, observation),
                "task": task,
                "observation": observation,
                "available_actions": list(ACTIONS),
                "extra": "",
                "embedding": vector.astype(np.float32).tobytes(),
                "visits": 2,
                "last_reward": 0.0,
                "total_reward": 0.0,
                "action_history": [],
                "created_at": now,
                "updated_at": now,
            }
        )
        actions.extend(
            {
                "experience_id": state_id,
                "action_hash": action_hash(a),
                "action": a,
                "reason": "",
                "q": 0.5,
                "reward": 0.0,
                "visits": 1,
                "updated_at": now,
            }
            for a in ACTIONS
        )
    return states, actions


def fill_sqlite(
    url: str,
    namespace: str,
    model: str,
    vectors: np.ndarray,
    labels: np.ndarray,
    advance: Callable[[int], None] = lambda n: None,
) -> None:
    """Create `namespace` in a fresh SQLite database and insert one state per vector, in bulk.

    The namespace's `states_inserted` counter is set to the row count so that a store's index
    sync sees every row, as if they had been inserted one by one through `ExperienceStore.apply`.
    """
    db = open_database(url)
    try:
        info = open_namespace(db, namespace, model, vectors.shape[1])

        def work(session) -> None:
            for start in range(0, len(vectors), FILL_CHUNK):
                states, actions = state_rows(
                    info.id,
                    vectors[start : start + FILL_CHUNK],
                    labels[start : start + FILL_CHUNK],
                    start + 1,
                )
                session.execute(insert(Experience), states)
                session.execute(insert(ActionValue), actions)
                advance(len(states))
            session.execute(
                update(Namespace)
                .where(Namespace.id == info.id)
                .values(states_inserted=Namespace.states_inserted + len(vectors))
            )

        db.write(work)
    finally:
        db.close()
