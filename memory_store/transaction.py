"""Reads and writes of one namespace inside one database transaction.

Everything a learner needs between two commits lives here: exact lookups, similarity search,
the bootstrap value max_a Q(s, a), and updates. Inside a write transaction, searches see the
transaction's own new states; if the transaction fails, what it added to the in-memory index
and eviction structures is taken out again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session, selectinload

from memory_store.averaging import Averaging
from memory_store.db.models import (
    ActionValue,
    Eviction,
    Experience,
    observation_hash,
    state_hash,
)
from memory_store.errors import InvalidArgument, ReadOnlyTransaction
from memory_store.record_cache import RecordCache, Unchanged, fetch
from memory_store.records import (
    EvictionRecord,
    ExperienceRecord,
    Outcome,
    Retrieved,
    StateSnapshot,
    Update,
    pooled,
)
from memory_store.vectors.eviction import NearestPairs
from memory_store.vectors.sync import SyncPoint, count_change, count_write, counters
from memory_store.writes import apply_updates, locked_namespace, put_states

if TYPE_CHECKING:
    from memory_store.store import ExperienceStore

STATES = Experience.__table__
# Built once: the lookups of `same_situation` by identity.
STATE_ID = select(STATES.c.id).where(
    STATES.c.namespace_id == bindparam("id"), STATES.c.state_hash == bindparam("hash")
)
OBSERVATION_IDS = (
    select(STATES.c.id, STATES.c.observation)
    .where(STATES.c.namespace_id == bindparam("id"), STATES.c.observation_hash == bindparam("hash"))
    .order_by(STATES.c.id)
)


class StoreTransaction:
    """One namespace seen through one open transaction (read-only unless `writing`).

    A write made through `session` directly must name the states it changes (`changed_states`), so
    that the store's cached rows of them go when it commits (record_cache.py).
    """

    def __init__(self, store: ExperienceStore, session: Session, *, writing: bool):
        self.store = store
        self.session = session
        self.writing = writing
        self.index_added: list[np.ndarray] = []
        self.pairs_added: list[np.ndarray] = []
        self.siblings: list[StoreTransaction] = []
        # The states this transaction changed (None: it cannot say), and its count of changes.
        self.changed: set[int] | None = set()
        self.changed_keys: set[str] = set()
        self.stored: list[str] = []  # hashes of the states it updated, for `ExperienceStore.stored_keys`
        self.changes_after: int | None = None

    @property
    def namespace_id(self) -> int:
        """The namespace this transaction works on."""
        return self.store.namespace.id

    # Derived structures (owned by the store; a write transaction logs what it adds to them)

    def added_log(self, added: list[np.ndarray]) -> list[np.ndarray] | None:
        """Where this transaction records the ids it adds to a mirror: `added` when writing, else nowhere."""
        return added if self.writing else None

    def refresh_index(self) -> SyncPoint:
        """Bring the FAISS index in step with what this transaction sees; return the point it reflects."""
        return self.store.refresh_index(self.session, self.added_log(self.index_added))

    def synced_pairs(self, session: Session) -> NearestPairs:
        """The paper policy's nearest-pairs structure, in step with this transaction."""
        return self.store.synced_pairs(self.session, self.added_log(self.pairs_added))

    def undo(self) -> None:
        """Take out of the in-memory structures what this (failed) transaction put in."""
        self.store.undo_additions(self.index_added, self.pairs_added)
        self.store.cached.clear()
        for sibling in self.siblings:
            sibling.undo()

    @property
    def cache(self) -> RecordCache | Unchanged:
        """The store's cached rows, less what this transaction changed in the namespace (all of them
        if it cannot say what)."""
        if self.changed == set() and not self.changed_keys:
            return self.store.cached
        return Unchanged(self.store.cached, self.changed, self.changed_keys)

    def changed_states(self, state_ids: Sequence[int] | None) -> None:
        """Note states this transaction changes (None: some it cannot name)."""
        if state_ids is None:
            self.changed = None
        elif self.changed is not None:
            self.changed.update(state_ids)

    def count_write(self) -> None:
        """Count this write transaction in the namespaces whose states it changed: the last thing it
        does before committing (one that changed none, a prune that found nothing, writes nothing)."""
        for tx in (self, *self.siblings):
            if tx.changed is None or tx.changed or tx.changed_keys:
                tx.changes_after = count_write(self.session, tx.namespace_id, tx.store.slot)

    def committed(self) -> None:
        """After the commit: move the cached rows past this transaction's changes, and read again the
        cached states it changed."""
        for tx in (self, *self.siblings):
            if tx.changes_after is not None:
                taken = tx.store.cached.committed(tx.changes_after, tx.changed, tx.changed_keys)
                if taken:
                    tx.store.read(lambda again, ids=taken: again.cache_states(ids))
            tx.store.remember_stored(tx.stored)

    def cache_states(self, state_ids: Sequence[int]) -> None:
        """Read states into the store's cache."""
        changes = counters(self.session, self.namespace_id).changes
        self.cache.put(changes, fetch(self.session, state_ids))

    # Reading

    def __len__(self) -> int:
        """How many states the namespace holds."""
        return counters(self.session, self.namespace_id).states

    def get(self, task: str, observation: str) -> ExperienceRecord | None:
        """The stored state with exactly this task and observation, if any."""
        row = self.session.scalars(
            select(Experience)
            .where(
                Experience.namespace_id == self.namespace_id,
                Experience.state_hash == state_hash(task, observation),
            )
            .options(selectinload(Experience.actions))
        ).one_or_none()
        return ExperienceRecord.of(row) if row else None

    def top_k(self, task: str, observation: str, k: int = 8) -> list[Retrieved]:
        """The k stored states most similar to (task, observation), most similar first, ties by id."""
        if k <= 0:
            raise InvalidArgument(f"k must be positive, got {k}")
        return self.nearest(self.store.embed(task, observation), k)

    def nearest(self, vector: np.ndarray, k: int = 8) -> list[Retrieved]:
        """The k stored states most similar to a query vector; similarity recomputed from the database."""
        if k <= 0:
            raise InvalidArgument(f"k must be positive, got {k}")
        store = self.store
        query = store.query_vector(vector)
        changes = self.refresh_index().counters.changes
        wanted = store.candidates(query, k)
        held, missing = self.cache.lookup(changes, wanted)
        if missing:
            fetched = fetch(self.session, missing)
            self.cache.put(changes, fetched)
            held.update((entry.record.id, entry) for entry in fetched)
        if len(held) < len(wanted):
            store.index_outdated()  # the index held states the database no longer has
        return store.ranked(query, held.values(), k)

    def same_situation(self, task: str, observation: str) -> list[ExperienceRecord]:
        """The stored states that read as (task, observation) to this namespace's retrieval: the state
        itself, and where retrieval reads the observation alone, every state with this observation
        (the same surroundings in another task). Found by identity, oldest first."""
        store = self.store
        key = store.situation_key(task, observation)
        changes = counters(self.session, self.namespace_id).changes
        found = self.cache.situation(changes, key)
        if found is not None:
            return found
        if store.namespace.retrieval_text != "observation":
            params = {"id": self.namespace_id, "hash": state_hash(task, observation)}
            ids = self.session.connection().scalars(STATE_ID, params).all()
        else:
            rows = self.session.connection().execute(
                OBSERVATION_IDS, {"id": self.namespace_id, "hash": observation_hash(observation)}
            )
            # A hash names its text; the comparison only guards against a collision.
            ids = [state_id for state_id, text in rows if text == observation]
        held, missing = self.cache.lookup(changes, ids)
        if missing:
            held.update((entry.record.id, entry) for entry in fetch(self.session, missing))
        entries = [held[state_id] for state_id in ids if state_id in held]
        self.cache.put(changes, entries, key=key)
        return [entry.record for entry in entries]

    def max_q(self, task: str, observation: str, floor: float | None = None) -> float:
        """max_a Q(s, a) for bootstrapping (see `bootstrap_value`)."""
        return bootstrap_value(
            self.same_situation(task, observation), lambda: self.top_k(task, observation, k=1), floor
        )

    def records(self) -> list[ExperienceRecord]:
        """Every state of the namespace with its actions, oldest first."""
        rows = self.session.scalars(
            select(Experience)
            .where(Experience.namespace_id == self.namespace_id)
            .order_by(Experience.id)
            .options(selectinload(Experience.actions))
        )
        return [ExperienceRecord.of(row) for row in rows]

    def evictions(self) -> list[EvictionRecord]:
        """The eviction log of this namespace, oldest first."""
        rows = self.session.scalars(
            select(Eviction).where(Eviction.namespace_id == self.namespace_id).order_by(Eviction.id)
        )
        return [EvictionRecord.of(row) for row in rows]

    def action_count(self) -> int:
        """How many (state, action) values the namespace holds."""
        count = self.session.scalar(
            select(func.count(ActionValue.id))
            .join(Experience)
            .where(Experience.namespace_id == self.namespace_id)
        )
        return int(count or 0)

    # Writing

    def require_writing(self, what: str) -> None:
        """Refuse a write in a read-only transaction (ReadOnlyTransaction names what was asked)."""
        if not self.writing:
            raise ReadOnlyTransaction(f"{what} needs a write transaction (ExperienceStore.transaction)")

    def new_states(self, items: Sequence[Update | StateSnapshot]) -> list[Update | StateSnapshot]:
        """The items (one per state) whose states the database does not hold yet."""
        keys = {state_hash(u.task, u.observation): u for u in items}
        stored = set(
            self.session.scalars(
                select(Experience.state_hash).where(
                    Experience.namespace_id == self.namespace_id, Experience.state_hash.in_(list(keys))
                )
            )
        )
        return [u for key, u in keys.items() if key not in stored]

    def apply(
        self,
        updates: Sequence[Update],
        mode: Averaging = Averaging.MEAN,
        lr: float = 0.1,
        vectors: dict[str, np.ndarray] | None = None,
    ) -> list[Outcome]:
        """Apply updates in order; `vectors` are precomputed embeddings of new states (else embedded here)."""
        self.require_writing("applying updates")
        check_rule(mode, lr)
        keys = [state_hash(u.task, u.observation) for u in updates]
        if vectors is None:
            # States the store has seen stored need no vector (one deleted since is embedded inside).
            known = self.store.stored_keys.issuperset(keys)
            vectors = {} if known else self.store.vectors_for(self.new_states(updates))
        outcomes = apply_updates(
            self.session,
            self.namespace_id,
            updates,
            vectors,
            lambda item: self.store.vectors_for([item])[state_hash(item.task, item.observation)],
            self.synced_pairs,
            Averaging(mode),
            lr,
        )
        self.changed_states([i for o in outcomes for i in (o.state_id, o.evicted_state_id) if i is not None])
        self.changed_keys.update(self.store.situation_key(u.task, u.observation) for u in updates)
        self.stored.extend(key for key, o in zip(keys, outcomes, strict=True) if o.status == "updated")
        return outcomes

    def put(self, snapshots: Sequence[StateSnapshot], replace: bool = False) -> int:
        """Write whole states as given (imports, copies); capacity limits do not apply. Return how many.

        A state already stored is an error unless `replace`, which overwrites it and its actions.
        """
        self.require_writing("writing states")
        keys = [state_hash(s.task, s.observation) for s in snapshots]
        if len(set(keys)) != len(keys):
            raise InvalidArgument("the states to write repeat a (task, observation) pair")
        vectors = self.store.vectors_for(snapshots)
        self.changed_states(None)  # replaced states
        return put_states(self.session, self.namespace_id, snapshots, vectors, replace)

    def sibling(self, store: ExperienceStore) -> StoreTransaction:
        """The same transaction seen from another namespace of the same database (double Q tables)."""
        if store.db is not self.store.db:
            raise InvalidArgument("namespaces in one transaction must share one database connection")
        for other in self.siblings:
            if other.store is store:  # one per namespace, so that what it changed is kept in one place
                return other
        other = StoreTransaction(store, self.session, writing=self.writing)
        self.siblings.append(other)
        return other

    def delete(self, state_ids: Sequence[int]) -> int:
        """Delete states of this namespace by id (their actions go with them); return how many."""
        self.require_writing("deleting states")
        session = self.session
        locked_namespace(session, self.namespace_id)
        ids = list(
            session.scalars(
                select(Experience.id).where(
                    Experience.namespace_id == self.namespace_id, Experience.id.in_(list(state_ids))
                )
            )
        )
        self.changed_states(ids)
        if ids:
            session.execute(delete(ActionValue).where(ActionValue.experience_id.in_(ids)))
            session.execute(delete(Experience).where(Experience.id.in_(ids)))
            count_change(session, self.namespace_id, deleted=len(ids))
        return len(ids)


def bootstrap_value(
    same: Sequence[ExperienceRecord], nearest: Callable[[], Sequence[Retrieved]], floor: float | None
) -> float:
    """max_a Q(s, a) for bootstrapping: over the states that read as s (`same`, their values pooled),
    else of the most similar stored state (`nearest()`, asked only then).

    0 when the memory is empty, or when the most similar state is less similar than `floor`.
    """
    if not same:
        hits = nearest()
        if not hits or (floor is not None and hits[0].similarity < floor):
            return 0.0
        same = [hits[0].experience]
    values = pooled(same)
    return max((value.q for value in values.values()), default=0.0)


def check_rule(mode: Averaging | str, lr: float) -> None:
    """Refuse an unknown averaging mode or a learning rate outside (0, 1]."""
    try:
        Averaging(mode)
    except ValueError:
        raise InvalidArgument(f"unknown update mode {mode!r}: choose mean or const") from None
    if not 0 < lr <= 1:
        raise InvalidArgument(f"learning rate must be in (0, 1], got {lr}")
