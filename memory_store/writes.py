"""Applying learning updates inside one write transaction: state row, action row, capacity.

The caller holds the write transaction; this module does the read-modify-write. On SQLite the
transaction already owns the database lock; on PostgreSQL every row read here is locked first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session, selectinload

from memory_store.averaging import Averaging
from memory_store.db.models import ActionValue, Experience, Namespace, action_hash, state_hash, utcnow
from memory_store.errors import InvalidArgument
from memory_store.records import Outcome, StateSnapshot, Update
from memory_store.touched import load_touched, new_state, write_touched
from memory_store.vectors.eviction import NearestPairs, admit_lru, admit_paper, evict_state, record
from memory_store.vectors.sync import count_change

Embed = Callable[[Update], np.ndarray]


def locked_namespace(session: Session, namespace_id: int) -> Namespace:
    """The namespace row, locked: inserting or evicting states changes its counters."""
    # FOR NO KEY UPDATE on PostgreSQL: writers that hold it still exclude each other, but not a
    # writer inserting a row that refers to the namespace (its count of changes, at the end).
    lock = {"key_share": True}
    return session.get_one(Namespace, namespace_id, with_for_update=lock, populate_existing=True)


def insert_state(
    session: Session,
    namespace: Namespace,
    item: Update,
    vector: np.ndarray,
    pairs: Callable[[Session], NearestPairs],
) -> tuple[Experience | None, int | None]:
    """Insert a new state if capacity allows; return (row or None if refused, evicted state id)."""
    victim = None
    count = namespace.states_inserted - namespace.states_deleted
    if namespace.max_states is not None and count >= namespace.max_states:
        if namespace.eviction_policy == "lru":
            verdict = admit_lru(session, namespace.id)
        else:
            verdict = admit_paper(session, pairs(session), vector)
        if not verdict.admit:
            record(session, namespace, "rejected", item.task, item.observation, details=verdict.details)
            return None, None
        if verdict.victim is not None:
            evict_state(session, namespace, verdict.victim, verdict.details)
            victim = verdict.victim
    row = Experience(
        namespace_id=namespace.id,
        state_hash=state_hash(item.task, item.observation),
        task=item.task,
        observation=item.observation,
        available_actions=list(item.available_actions),
        extra=item.extra,
        embedding=np.asarray(vector, np.float32).tobytes(),
        visits=0,
        last_reward=0.0,
        total_reward=0.0,
        action_history=list(item.action_history),
        actions=[],
    )
    session.add(row)
    count_change(session, namespace.id, inserted=1)
    session.flush()
    session.refresh(namespace)
    return row, victim


MAX_ACTIONS = select(Namespace.max_actions).where(Namespace.id == bindparam("id"))


def apply_updates(
    session: Session,
    namespace_id: int,
    updates: Sequence[Update],
    vectors: dict[str, np.ndarray],
    embed: Embed,
    pairs: Callable[[Session], NearestPairs],
    mode: Averaging,
    lr: float,
) -> list[Outcome]:
    """Apply updates in order; new states are embedded from `vectors`, or by `embed` if missing.

    The states they touch are read and locked at once and written back together at the end
    (memory_store.touched); before a new state is inserted, what changed so far is written, so
    that capacity decisions see it."""
    session.flush()
    outcomes: list[Outcome] = []
    # The namespace row is locked before any state when states may be inserted, as every inserter does.
    namespace = locked_namespace(session, namespace_id) if vectors else None
    keys = [state_hash(item.task, item.observation) for item in updates]
    states = load_touched(session, namespace_id, list(dict.fromkeys(keys)))
    max_actions = (
        namespace.max_actions
        if namespace is not None
        else session.connection().scalar(MAX_ACTIONS, {"id": namespace_id})
    )
    for key, item in zip(keys, updates, strict=True):
        state = states.get(key)
        evicted = None
        if state is None:
            write_touched(session, list(states.values()))
            namespace = namespace or locked_namespace(session, namespace_id)
            vector = vectors.get(key)
            if vector is None:
                vector = embed(item)
            row, evicted = insert_state(session, namespace, item, vector, pairs)
            if evicted is not None:  # a state this batch touched may be the one evicted
                states = {k: s for k, s in states.items() if s.id != evicted}
            if row is None:
                outcomes.append(Outcome("rejected", None))
                continue
            state = states[key] = new_state(row)
        state.update(item, mode, lr)
        worst = state.drop_worst(max_actions)
        if worst is not None:
            task, observation = session.execute(select(Experience.task, Experience.observation)
                                                .where(Experience.id == state.id)).one()  # fmt: skip
            record(session, session.get_one(Namespace, namespace_id), "action", task, observation,
                   worst.action, f"over {max_actions} actions; lowest reward {worst.reward:.4f}")  # fmt: skip
        outcomes.append(Outcome("updated", state.id, evicted, worst.action if worst is not None else None))
    write_touched(session, list(states.values()))
    # Rows this session loaded as objects (inserted states, any read before) are stale now.
    session.flush()
    session.expire_all()
    return outcomes


def put_states(
    session: Session,
    namespace_id: int,
    snapshots: Sequence[StateSnapshot],
    vectors: dict[str, np.ndarray],
    replace: bool,
) -> int:
    """Write whole states (and their actions) as given; stored ones are replaced only if `replace`."""
    namespace = locked_namespace(session, namespace_id)
    keys = [state_hash(s.task, s.observation) for s in snapshots]
    stored = {
        row.state_hash: row
        for row in session.scalars(
            select(Experience)
            .where(Experience.namespace_id == namespace_id, Experience.state_hash.in_(keys))
            .options(selectinload(Experience.actions))
        )
    }
    if stored and not replace:
        example = next(iter(stored.values()))
        raise InvalidArgument(
            f"{len(stored)} of the {len(snapshots)} states are already in namespace {namespace.name!r} "
            f"(e.g. observation {example.observation[:60]!r}): "
            "import into an empty namespace, or replace them (--replace)"
        )
    if stored:
        # A replaced state is a new state: its embedding may differ, and an id's never changes
        # (vectors/sync.py).
        replaced = [row.id for row in stored.values()]
        session.execute(delete(ActionValue).where(ActionValue.experience_id.in_(replaced)))
        session.execute(delete(Experience).where(Experience.id.in_(replaced)))
    for key, snapshot in zip(keys, snapshots, strict=True):
        names = [a.action for a in snapshot.actions]
        if len(set(names)) != len(names):
            raise InvalidArgument(f"state {snapshot.observation[:60]!r} lists an action twice")
        row = Experience(namespace_id=namespace_id, state_hash=key, actions=[])
        session.add(row)
        row.task, row.observation, row.extra = snapshot.task, snapshot.observation, snapshot.extra
        row.available_actions = list(snapshot.available_actions)
        row.embedding = np.asarray(vectors[key], np.float32).tobytes()
        row.visits, row.last_reward, row.total_reward = (
            snapshot.visits,
            snapshot.last_reward,
            snapshot.total_reward,
        )
        row.action_history = list(snapshot.action_history)
        row.updated_at = utcnow()
        row.actions.extend(
            ActionValue(
                action_hash=action_hash(a.action),
                action=a.action,
                reason=a.reason,
                q=a.q,
                reward=a.reward,
                visits=a.visits,
            )
            for a in snapshot.actions
        )
    count_change(session, namespace_id, inserted=len(snapshots), deleted=len(stored))
    session.flush()
    return len(snapshots)
