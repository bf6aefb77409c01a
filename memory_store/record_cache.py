"""Stored states kept in memory between queries, valid while their namespace is unchanged.

A namespace counts the write transactions that change its rows (`Namespace.changes`, read in the
same query as the index's counters), so a query whose count matches the cache's needs no SQL for
the states it already holds. A store's own commits move the cache forward instead of emptying it,
taking out only the states they changed, when the count shows that nobody else wrote in between.
Entries read under an older count are refused, so a reader racing a writer in this process never
leaves a stale state behind.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from memory_store.db.models import ActionValue, Experience
from memory_store.records import ActionRecord, ExperienceRecord

# States held at most: beyond it the least recently used go (a 384-d state is about 2 KiB here).
CAPACITY = 50_000


@dataclass(frozen=True)
class Cached:
    """A stored state as a query returns it, and its embedding as stored."""

    record: ExperienceRecord
    embedding: bytes


class RecordCache:
    """States by id, and which states a situation key names (`ExperienceStore.situation_key`), valid at
    one count of the namespace's changes; safe to share between threads."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self.entries: OrderedDict[int, Cached] = OrderedDict()
        # Situation key -> the ids of its states, oldest first (none: nothing stored reads so).
        self.situations: dict[str, tuple[int, ...]] = {}
        self.valid_at: int | None = None
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.entries)

    def validate(self, changes: int) -> None:
        """For a reader that saw `changes`, with the lock held: a count other than the cache's empties it."""
        if changes != self.valid_at:
            self.clear_locked()
            self.valid_at = changes

    def lookup(self, changes: int, ids: Sequence[int]) -> tuple[dict[int, Cached], list[int]]:
        """(the states held of `ids`, the ids missing) for a reader that saw `changes`."""
        with self.lock:
            self.validate(changes)
            found: dict[int, Cached] = {}
            missing: list[int] = []
            for state_id in ids:
                entry = self.entries.get(state_id)
                if entry is None:
                    missing.append(state_id)
                else:
                    self.entries.move_to_end(state_id)
                    found[state_id] = entry
            return found, missing

    def situation(self, changes: int, key: str) -> list[ExperienceRecord] | None:
        """The states of a situation key for a reader that saw `changes`, or None if not all are held."""
        with self.lock:
            self.validate(changes)
            ids = self.situations.get(key)
            if ids is None or any(state_id not in self.entries for state_id in ids):
                return None
            return [self.entries[state_id].record for state_id in ids]

    def put(self, changes: int, entries: Iterable[Cached], *, key: str | None = None) -> None:
        """Keep states read at `changes` (all the states of situation `key`, if given), unless the
        cache has moved on since."""
        with self.lock:
            if changes != self.valid_at:
                return
            entries = list(entries)
            for entry in entries:
                self.entries[entry.record.id] = entry
            if key is not None:
                if len(self.situations) >= self.capacity:
                    self.situations.clear()
                self.situations[key] = tuple(entry.record.id for entry in entries)
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)

    def committed(self, changes: int, changed: Iterable[int] | None, keys: Iterable[str] = ()) -> list[int]:
        """After this store committed a write transaction counted as `changes`: take out the states it
        `changed` and the situation `keys` it wrote (they may name new states) if the cache was valid
        just before it, else (or if `changed` is unknown) empty it. Returns the states taken out,
        worth reading again: they were in use."""
        with self.lock:
            if changed is None or self.valid_at != changes - 1:
                self.clear_locked()
                self.valid_at = None
                return []
            for key in keys:
                self.situations.pop(key, None)
            self.valid_at = changes
            return [state_id for state_id in changed if self.entries.pop(state_id, None) is not None]

    def clear(self) -> None:
        """Forget every state (after a transaction that did not commit)."""
        with self.lock:
            self.clear_locked()
            self.valid_at = None

    def clear_locked(self) -> None:
        """Forget every state and situation, with the lock held."""
        self.entries.clear()
        self.situations.clear()


class Unchanged:
    """The cache as a write transaction may read it: without the states and situations it changed (it
    must see its own changes, which the cache does not hold; `changed` None: it cannot say which, so
    nothing is held), and keeping nothing it reads."""

    def __init__(self, cache: RecordCache, changed: set[int] | None, keys: set[str]):
        self.cache, self.changed, self.keys = cache, changed, keys

    def lookup(self, changes: int, ids: Sequence[int]) -> tuple[dict[int, Cached], list[int]]:
        """`RecordCache.lookup`, the changed states counted missing."""
        if self.changed is None:
            return {}, list(ids)
        held, missing = self.cache.lookup(changes, [i for i in ids if i not in self.changed])
        return held, [i for i in ids if i not in held]

    def situation(self, changes: int, key: str) -> list[ExperienceRecord] | None:
        """`RecordCache.situation`, unless the transaction wrote to it or changed one of its states."""
        if self.changed is None or key in self.keys:
            return None
        found = self.cache.situation(changes, key)
        return None if found is None or any(r.id in self.changed for r in found) else found

    def put(self, changes: int, entries: Iterable[Cached], *, key: str | None = None) -> None:
        """Keep nothing: what it reads may hold its own changes."""


STATES = Experience.__table__
ACTIONS = ActionValue.__table__
# Built once: the statements of every query that misses the cache.
STATE_ROWS = (
    select(
        STATES.c.id,
        STATES.c.task,
        STATES.c.observation,
        STATES.c.available_actions,
        STATES.c.extra,
        STATES.c.visits,
        STATES.c.last_reward,
        STATES.c.total_reward,
        STATES.c.action_history,
        STATES.c.created_at,
        STATES.c.updated_at,
        STATES.c.embedding,
    )
    .where(STATES.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(STATES.c.id)
)
ACTION_ROWS = (
    select(ACTIONS.c.experience_id, ACTIONS.c.action, ACTIONS.c.reason, ACTIONS.c.q, ACTIONS.c.reward,
           ACTIONS.c.visits)
    .where(ACTIONS.c.experience_id.in_(bindparam("ids", expanding=True)))
    .order_by(ACTIONS.c.id)
)  # fmt: skip


def fetch(session: Session, ids: Sequence[int]) -> list[Cached]:
    """The stored states of `ids` that exist, by id, with their actions (two queries, no ORM objects)."""
    connection = session.connection()
    actions: dict[int, list[ActionRecord]] = {}
    for a in connection.execute(ACTION_ROWS, {"ids": list(ids)}):
        actions.setdefault(a[0], []).append(ActionRecord(a[1], a[2], a[3], a[4], a[5]))
    return [
        Cached(ExperienceRecord.of(r, actions.get(r.id, ())), r.embedding)
        for r in connection.execute(STATE_ROWS, {"ids": list(ids)})
    ]
