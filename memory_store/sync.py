"""Keeping in-memory vector structures (the FAISS index, the eviction pairs) in step with the database.

The database is the source of truth. Each namespace row carries two monotonic counters, states
inserted and states deleted, bumped in the same transaction as the change. A mirror remembers the
counters it last saw: equal counters mean nothing changed; only insertions mean it fetches rows
with larger ids; anything else (or a count that does not add up) means a full id comparison.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from memory_store.errors import InvalidVector
from memory_store.models import Experience, Namespace

log = logging.getLogger(__name__)

FETCH_CHUNK = 5000


class VectorMirror(Protocol):
    """A structure holding a copy of some namespace's state embeddings, addressed by state id."""

    def __len__(self) -> int: ...

    def ids(self) -> np.ndarray: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...


@dataclass(frozen=True)
class SyncPoint:
    """The namespace counters a mirror reflects, and the largest state id it holds."""

    inserted: int
    deleted: int
    max_id: int


def counters(session: Session, namespace_id: int) -> tuple[int, int]:
    """The namespace's (states inserted, states deleted) counters."""
    row = session.execute(
        select(Namespace.states_inserted, Namespace.states_deleted).where(Namespace.id == namespace_id)
    ).one()
    return int(row[0]), int(row[1])


def decode(blob: bytes, dim: int, state_id: int) -> np.ndarray:
    """A stored embedding as a float32 vector, checked against the namespace dimension."""
    if len(blob) != 4 * dim:
        raise InvalidVector(
            f"state {state_id} has a {len(blob) // 4}-d embedding in a {dim}-d namespace: "
            "re-embed the namespace"
        )
    return np.frombuffer(blob, dtype=np.float32)


def load_embeddings(session: Session, ids: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Fetch (ids, vectors) for the given state ids that still exist, in chunks."""
    found_ids: list[int] = []
    vectors: list[np.ndarray] = []
    for start in range(0, len(ids), FETCH_CHUNK):
        chunk = [int(i) for i in ids[start : start + FETCH_CHUNK]]
        rows = session.execute(select(Experience.id, Experience.embedding).where(Experience.id.in_(chunk)))
        for state_id, blob in rows:
            found_ids.append(state_id)
            vectors.append(decode(blob, dim, state_id))
    if not found_ids:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    return np.asarray(found_ids, np.int64), np.vstack(vectors)


def sync(
    session: Session, namespace_id: int, dim: int, mirror: VectorMirror, point: SyncPoint | None
) -> SyncPoint:
    """Bring `mirror` up to date with the namespace and return the point it now reflects."""
    inserted, deleted = counters(session, namespace_id)
    if point is not None and (inserted, deleted) == (point.inserted, point.deleted):
        return point
    if point is not None and deleted == point.deleted:
        new_ids = session.scalars(
            select(Experience.id).where(Experience.namespace_id == namespace_id, Experience.id > point.max_id)
        ).all()
        ids, vectors = load_embeddings(session, np.asarray(new_ids, np.int64), dim)
        if len(ids):
            mirror.add(ids, vectors)
        if len(mirror) == inserted - deleted:
            return SyncPoint(inserted, deleted, max(point.max_id, int(ids.max()) if len(ids) else 0))
    return full_sync(session, namespace_id, dim, mirror, inserted, deleted)


def full_sync(
    session: Session, namespace_id: int, dim: int, mirror: VectorMirror, inserted: int, deleted: int
) -> SyncPoint:
    """Compare every id with the database: drop what it lacks, add what the mirror lacks."""
    stored = np.asarray(
        session.scalars(select(Experience.id).where(Experience.namespace_id == namespace_id)).all(),
        np.int64,
    )
    held = mirror.ids()
    gone = np.setdiff1d(held, stored, assume_unique=True)
    missing = np.setdiff1d(stored, held, assume_unique=True)
    if len(gone):
        mirror.remove(gone)
    ids, vectors = load_embeddings(session, missing, dim)
    if len(ids):
        mirror.add(ids, vectors)
    log.debug("full sync of namespace %d: -%d +%d", namespace_id, len(gone), len(ids))
    return SyncPoint(inserted, deleted, int(stored.max()) if len(stored) else 0)
