"""Capacity limits of a namespace: which state or action makes room, and the log of every eviction.

Two state policies:
- `paper` (REMEMBERER): when full, a new state at least as similar to some stored state as the most
  similar stored pair is dropped; otherwise the member of that pair with more samples is evicted.
- `lru`: the least recently updated state is evicted.
Over-capacity actions lose the one with the lowest average reward, as in the paper.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from memory_store.db.models import ActionValue, Eviction, Experience, Namespace
from memory_store.vectors.sync import count_change

log = logging.getLogger(__name__)

EvictionPolicy = Literal["paper", "lru"]
EVICTION_POLICIES: tuple[EvictionPolicy, ...] = ("paper", "lru")
BLOCK = 1024


class NearestPairs:
    """Every stored vector's most similar other vector, kept current in O(n·d) per change."""

    def __init__(self, dim: int):
        self.dim = dim
        self.row_ids = np.zeros(0, np.int64)
        self.matrix = np.zeros((0, dim), np.float32)
        self.nn_sim = np.zeros(0, np.float32)
        self.nn_id = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.row_ids)

    def ids(self) -> np.ndarray:
        """The ids held, sorted."""
        return np.sort(self.row_ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit vectors; neighbours of existing rows improve where a new vector is closer."""
        for start in range(0, len(ids), BLOCK):
            block_ids = np.asarray(ids[start : start + BLOCK], np.int64)
            block = np.asarray(vectors[start : start + BLOCK], np.float32)
            old = len(self.row_ids)
            if old:
                cross = self.matrix @ block.T
                best = cross.argmax(axis=1)
                better = cross[np.arange(old), best] > self.nn_sim
                self.nn_sim[better] = cross[better, best[better]]
                self.nn_id[better] = block_ids[best[better]]
            self.row_ids = np.concatenate([self.row_ids, block_ids])
            self.matrix = np.vstack([self.matrix, block])
            self.nn_sim = np.concatenate([self.nn_sim, np.full(len(block), -np.inf, np.float32)])
            self.nn_id = np.concatenate([self.nn_id, np.full(len(block), -1, np.int64)])
            self.refresh(np.arange(old, len(self.row_ids)))

    def remove(self, ids: np.ndarray) -> None:
        """Remove ids and recompute the neighbours of rows that pointed at them."""
        gone = np.isin(self.row_ids, ids)
        if not gone.any():
            return
        keep = ~gone
        self.row_ids, self.matrix = self.row_ids[keep], self.matrix[keep]
        self.nn_sim, self.nn_id = self.nn_sim[keep], self.nn_id[keep]
        self.refresh(np.flatnonzero(np.isin(self.nn_id, ids)))

    def refresh(self, rows: np.ndarray) -> None:
        """Recompute the nearest other row of the given rows."""
        for start in range(0, len(rows), BLOCK):
            chunk = rows[start : start + BLOCK]
            sims = self.matrix[chunk] @ self.matrix.T
            sims[np.arange(len(chunk)), chunk] = -np.inf
            if sims.shape[1] <= 1:
                self.nn_sim[chunk], self.nn_id[chunk] = -np.inf, -1
                continue
            best = sims.argmax(axis=1)
            self.nn_sim[chunk] = sims[np.arange(len(chunk)), best]
            self.nn_id[chunk] = self.row_ids[best]

    def closest_pair(self) -> tuple[float, int, int] | None:
        """(similarity, id, id) of the most similar stored pair, lower id first; None below two rows."""
        if len(self.row_ids) < 2:
            return None
        row = int(self.nn_sim.argmax())
        a, b = int(self.row_ids[row]), int(self.nn_id[row])
        return float(self.nn_sim[row]), min(a, b), max(a, b)

    def best_similarity(self, vector: np.ndarray) -> float:
        """The highest similarity of `vector` to any stored row (-inf when empty)."""
        if not len(self.row_ids):
            return float("-inf")
        return float((self.matrix @ np.asarray(vector, np.float32)).max())


@dataclass(frozen=True)
class Admission:
    """The capacity verdict on a new state: admit it (after evicting `victim`, if any) or not."""

    admit: bool
    victim: int | None = None
    details: str = ""


def samples(session: Session, state_id: int) -> int:
    """How many action samples a state holds (its actions' visits summed)."""
    total = session.scalar(
        select(func.coalesce(func.sum(ActionValue.visits), 0)).where(ActionValue.experience_id == state_id)
    )
    return int(total or 0)


def admit_paper(session: Session, pairs: NearestPairs, vector: np.ndarray) -> Admission:
    """The paper's rule for a full namespace, given the synced nearest pairs."""
    pair = pairs.closest_pair()
    if pair is None:
        return Admission(True)
    pair_sim, a, b = pair
    new_sim = pairs.best_similarity(vector)
    if new_sim >= pair_sim:
        return Admission(
            False, details=f"similarity {new_sim:.4f} to a stored state >= closest pair {pair_sim:.4f}"
        )
    victim = a if samples(session, a) >= samples(session, b) else b
    return Admission(
        True,
        victim,
        f"closest pair ({a}, {b}) at similarity {pair_sim:.4f}; evicted the one with more samples",
    )


def admit_lru(session: Session, namespace_id: int) -> Admission:
    """Evict the least recently updated state (lowest id on ties)."""
    victim = session.scalar(
        select(Experience.id)
        .where(Experience.namespace_id == namespace_id)
        .order_by(Experience.updated_at, Experience.id)
        .limit(1)
    )
    return Admission(True, victim, "least recently updated")


def record(
    session: Session,
    namespace: Namespace,
    kind: str,
    task: str,
    observation: str,
    action: str | None = None,
    details: str = "",
) -> None:
    """Write an eviction log row and a log line."""
    session.add(
        Eviction(
            namespace_id=namespace.id,
            kind=kind,
            policy=namespace.eviction_policy,
            task=task,
            observation=observation,
            action=action,
            details=details,
        )
    )
    log.info("namespace %s: %s %r (%s)", namespace.name, kind, action or observation[:60], details)


def evict_state(session: Session, namespace: Namespace, victim: int, details: str) -> None:
    """Delete a state (its actions cascade), count the deletion, and log it."""
    row = session.get_one(Experience, victim)
    record(session, namespace, "state", row.task, row.observation, details=details)
    session.execute(delete(ActionValue).where(ActionValue.experience_id == victim))
    session.execute(delete(Experience).where(Experience.id == victim))
    count_change(session, namespace.id, deleted=1)
