"""Keeping in-memory vector structures (the FAISS index, the eviction pairs) in step with the database.

The database is the source of truth. Each namespace row carries two monotonic counters, states
inserted and states deleted, and a random generation, all changed in the same transaction as the
states (`count_change`). A state's embedding never changes under its id (a new embedding is a new
state), so ids say which vectors a mirror needs. A mirror remembers the point it last saw: the same
generation means nothing changed; only insertions mean it fetches rows with larger ids; anything
else (or a count that does not add up) means a full id comparison. The generation alone tells
whether a saved index holds this database's vectors (`index_file.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import Insert, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from memory_store.db.models import Experience, Namespace, NamespaceChange, new_generation
from memory_store.errors import InvalidVector

log = logging.getLogger(__name__)

FETCH_CHUNK = 5000
# Writer slots per namespace for counting write transactions (NamespaceChange).
CHANGE_SLOTS = 64


class VectorMirror(Protocol):
    """A structure holding a copy of some namespace's state embeddings, addressed by state id."""

    def __len__(self) -> int: ...

    def ids(self) -> np.ndarray: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...


class Recorder:
    """A mirror wrapper that remembers which ids were added through it (so they can be taken out)."""

    def __init__(self, mirror: VectorMirror, added: list[np.ndarray]):
        self.mirror = mirror
        self.added = added

    def __len__(self) -> int:
        return len(self.mirror)

    def ids(self) -> np.ndarray:
        return self.mirror.ids()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.mirror.add(ids, vectors)
        self.added.append(np.asarray(ids, np.int64))

    def remove(self, ids: np.ndarray) -> None:
        self.mirror.remove(ids)


@dataclass(frozen=True)
class Counters:
    """A namespace's states inserted and deleted so far, its content generation, and how many write
    transactions have changed its rows (`changes`: cached rows are valid while it stays the same)."""

    inserted: int
    deleted: int
    generation: str
    changes: int

    @classmethod
    def of(cls, row: tuple) -> Counters:
        """From a row of `COUNTERS`."""
        return cls(int(row[0]), int(row[1]), row[2] or "", int(row[3]))

    @property
    def states(self) -> int:
        """How many states the namespace holds."""
        return self.inserted - self.deleted


@dataclass(frozen=True)
class SyncPoint:
    """The namespace counters a mirror reflects, and the largest state id it holds."""

    counters: Counters
    max_id: int


NAMESPACES = Namespace.__table__
CHANGES = NamespaceChange.__table__
# Built once: every query runs it (and its SQL is then compiled once).
COUNTERS = select(
    NAMESPACES.c.states_inserted,
    NAMESPACES.c.states_deleted,
    NAMESPACES.c.generation,
    select(func.coalesce(func.sum(CHANGES.c.count), 0))
    .where(CHANGES.c.namespace_id == NAMESPACES.c.id)
    .scalar_subquery(),
).where(NAMESPACES.c.id == bindparam("id"))


def counters(session: Session, namespace_id: int) -> Counters:
    """The namespace's counters as this transaction sees them."""
    return Counters.of(session.connection().execute(COUNTERS, {"id": namespace_id}).one())


# Counts inserted and deleted states under a new generation: a Core statement on the table (an ORM
# update would also look for the namespace's object in the session to change it).
COUNT_CHANGE = (
    update(NAMESPACES)
    .where(NAMESPACES.c.id == bindparam("b_id"))
    .values(
        states_inserted=NAMESPACES.c.states_inserted + bindparam("b_inserted"),
        states_deleted=NAMESPACES.c.states_deleted + bindparam("b_deleted"),
        generation=bindparam("b_generation"),
    )
)


def count_change(session: Session, namespace_id: int, *, inserted: int = 0, deleted: int = 0) -> None:
    """Count states inserted and deleted in this transaction, under a new generation (a namespace
    object the session holds is stale afterwards: refresh it to read the counters)."""
    session.connection().execute(
        COUNT_CHANGE,
        {
            "b_id": namespace_id,
            "b_inserted": inserted,
            "b_deleted": deleted,
            "b_generation": new_generation(),
        },
    )


def count_statement(upsert: Callable[..., Insert]) -> Insert:
    """`count_write`'s statement in one dialect: a slot's row made at 1 or counted up by 1."""
    return (
        upsert(CHANGES)
        .values(namespace_id=bindparam("id"), slot=bindparam("slot"), count=1)
        .on_conflict_do_update(index_elements=["namespace_id", "slot"], set_={"count": CHANGES.c.count + 1})
    )


SUM = (
    select(func.coalesce(func.sum(CHANGES.c.count), 0))
    .where(CHANGES.c.namespace_id == bindparam("id"))
    .scalar_subquery()
)
# PostgreSQL counts and reads the sum in one round trip: the statement sees the table as it was
# before its own upsert (that is how a data-changing CTE works there), so the sum is one short.
BUMPED = count_statement(postgresql_insert).returning(CHANGES.c.slot).cte("bumped")
COUNT_AND_SUM = select(SUM + select(func.count()).select_from(BUMPED).scalar_subquery())
COUNT = count_statement(sqlite_insert)


def count_write(session: Session, namespace_id: int, slot: int) -> int:
    """Count one write transaction in the namespace, in the writer's `slot`; return the namespace's
    count as this transaction now sees it. Run it last: on PostgreSQL the slot's row stays locked
    until the commit."""
    connection = session.connection()
    params = {"id": namespace_id, "slot": slot}
    if connection.dialect.name == "postgresql":
        return int(connection.execute(COUNT_AND_SUM, params).scalar_one())
    connection.execute(COUNT, params)
    return int(connection.execute(COUNTERS, params).one()[3])


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
    now = counters(session, namespace_id)
    if point is not None and now.generation == point.counters.generation:
        return point if now == point.counters else SyncPoint(now, point.max_id)
    if point is not None and now.deleted == point.counters.deleted:
        new_ids = session.scalars(
            select(Experience.id).where(Experience.namespace_id == namespace_id, Experience.id > point.max_id)
        ).all()
        ids, vectors = load_embeddings(session, np.asarray(new_ids, np.int64), dim)
        if len(ids):
            mirror.add(ids, vectors)
        if len(mirror) == now.states:
            return SyncPoint(now, max(point.max_id, int(ids.max()) if len(ids) else 0))
    return full_sync(session, namespace_id, dim, mirror, now)


def full_sync(
    session: Session, namespace_id: int, dim: int, mirror: VectorMirror, now: Counters
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
    return SyncPoint(now, int(stored.max()) if len(stored) else 0)
