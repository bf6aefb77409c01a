"""The states a batch of updates touches, as plain rows: read and locked in one query each for the
states and their actions, changed in memory in update order, written back in a few statements.

Set-based SQL (one executemany per kind of change) instead of an ORM object per row: the write
path of every learning step goes through here. Only the columns updates read or change are read;
never the embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from memory_store.averaging import Averaging, blend
from memory_store.db.models import ActionValue, Experience, action_hash, utcnow
from memory_store.records import Update

STATES = Experience.__table__
ACTIONS = ActionValue.__table__
# State hashes per locking query: well under SQLite's limit on bound parameters.
CHUNK = 500


@dataclass
class ActionRow:
    """One action value of a touched state; `stored`: the database has its row."""

    action: str
    reason: str
    q: float
    reward: float
    visits: int
    stored: bool
    changed: bool = False
    updated_at: datetime | None = None


@dataclass
class StateRow:
    """A touched state: its statistics and its actions by hash, in id order."""

    id: int
    visits: int
    last_reward: float
    total_reward: float
    action_history: list[str]
    actions: dict[str, ActionRow] = field(default_factory=dict)
    available_actions: list[str] | None = None  # set when an update replaces them
    extra: str | None = None
    changed: bool = False
    # When the last update touched it: each update its own time, as if each were a transaction.
    updated_at: datetime | None = None
    # Hashes of stored actions dropped since the last write.
    dropped: list[str] = field(default_factory=list)

    def update(self, item: Update, mode: Averaging, lr: float) -> None:
        """Count a visit; average the arrival rewards; keep the shortest action history seen; move the
        action's Q toward the target and its reward toward the sample."""
        if self.visits == 0:
            self.last_reward, self.total_reward = item.last_reward, item.total_reward
            self.action_history = list(item.action_history)
        else:
            self.last_reward = blend(self.last_reward, item.last_reward, self.visits, mode, lr)
            self.total_reward = blend(self.total_reward, item.total_reward, self.visits, mode, lr)
            if len(item.action_history) <= len(self.action_history):
                self.action_history = list(item.action_history)
        self.visits += 1
        self.updated_at = utcnow()
        if item.available_actions:
            self.available_actions = list(item.available_actions)
        if item.extra:
            self.extra = item.extra
        key = action_hash(item.action)
        action = self.actions.get(key)
        if action is None:
            action = self.actions[key] = ActionRow(item.action, "", 0.0, 0.0, 0, stored=False)
        action.q = blend(action.q, item.target, action.visits, mode, lr)
        action.reward = blend(action.reward, item.reward, action.visits, mode, lr)
        action.visits += 1
        action.reason = item.reason or action.reason
        action.updated_at = self.updated_at
        action.changed = self.changed = True

    def drop_worst(self, max_actions: int | None) -> ActionRow | None:
        """Drop the lowest-reward action (the oldest of equals) while over `max_actions`; return it."""
        if max_actions is None or len(self.actions) <= max_actions:
            return None
        key = min(self.actions, key=lambda k: self.actions[k].reward)
        worst = self.actions.pop(key)
        if worst.stored:
            self.dropped.append(key)
        return worst


def new_state(row: Experience) -> StateRow:
    """The touched row of a state just inserted (no visits, no actions)."""
    return StateRow(row.id, 0, 0.0, 0.0, list(row.action_history))


def bound(names: str) -> dict:
    """`values()` of an executemany statement: each column of `names` bound to parameter `b_<name>`."""
    return {name: bindparam(f"b_{name}") for name in names.split()}


STATS = "visits last_reward total_reward action_history"
ACTION_VALUES = "reason q reward visits"
BY_ID = STATES.c.id == bindparam("b_id")
# Built once: the statements of every learning step (their SQL is then compiled once too).
# The states first, locked; then their actions, read once the locks are held (a join would read
# them from the snapshot taken before waiting for a lock, on PostgreSQL).
LOCK = (
    select(
        STATES.c.id,
        STATES.c.state_hash,
        STATES.c.visits,
        STATES.c.last_reward,
        STATES.c.total_reward,
        STATES.c.action_history,
    )
    .where(
        STATES.c.namespace_id == bindparam("namespace"),
        STATES.c.state_hash.in_(bindparam("keys", expanding=True)),
    )
    .order_by(STATES.c.id)
    .with_for_update()
)
LOAD_ACTIONS = (
    select(
        ACTIONS.c.experience_id,
        ACTIONS.c.action_hash,
        ACTIONS.c.action,
        ACTIONS.c.reason,
        ACTIONS.c.q,
        ACTIONS.c.reward,
        ACTIONS.c.visits,
    )
    .where(ACTIONS.c.experience_id.in_(bindparam("ids", expanding=True)))
    .order_by(ACTIONS.c.id)
)
SET_STATS = update(STATES).where(BY_ID).values(bound(STATS + " updated_at"))
SET_AVAILABLE = update(STATES).where(BY_ID).values(bound("available_actions"))
SET_EXTRA = update(STATES).where(BY_ID).values(bound("extra"))
SET_ACTION = (
    update(ACTIONS)
    .where(ACTIONS.c.experience_id == bindparam("b_state"), ACTIONS.c.action_hash == bindparam("b_hash"))
    .values(bound(ACTION_VALUES + " updated_at"))
)
ADD_ACTION = insert(ACTIONS)


def load_touched(session: Session, namespace_id: int, keys: Sequence[str]) -> dict[str, StateRow]:
    """The stored states among `keys` (state hashes) with their actions, by hash, locked against
    other writers in id order (so concurrent writers lock shared rows in the same order)."""
    # Core statements on the session's connection: no ORM objects, none of the ORM's overhead.
    connection = session.connection()
    found: dict[str, StateRow] = {}
    for start in range(0, len(keys), CHUNK):
        for r in connection.execute(
            LOCK, {"namespace": namespace_id, "keys": list(keys[start : start + CHUNK])}
        ):
            found[r.state_hash] = StateRow(
                r.id, r.visits, r.last_reward, r.total_reward, list(r.action_history)
            )
    by_id = {state.id: state for state in found.values()}
    ids = list(by_id)
    for start in range(0, len(ids), CHUNK):
        for a in connection.execute(LOAD_ACTIONS, {"ids": ids[start : start + CHUNK]}):
            by_id[a.experience_id].actions[a.action_hash] = ActionRow(
                a.action, a.reason, a.q, a.reward, a.visits, stored=True
            )
    return found


def write_touched(session: Session, states: Sequence[StateRow]) -> None:
    """Write what changed in `states` since the last write: dropped actions, then state statistics,
    changed actions and new ones, one statement each (executed for many rows)."""
    connection = session.connection()
    dropped = [(s.id, key) for s in states for key in s.dropped]
    if dropped:
        pair = tuple_(ACTIONS.c.experience_id, ACTIONS.c.action_hash)
        connection.execute(delete(ACTIONS).where(pair.in_(dropped)))
    changed = [s for s in states if s.changed]
    if changed:
        connection.execute(
            SET_STATS,
            [
                {"b_id": s.id, "b_updated_at": s.updated_at}
                | {f"b_{n}": getattr(s, n) for n in STATS.split()}
                for s in changed
            ],  # fmt: skip
        )
    for column, statement in (("available_actions", SET_AVAILABLE), ("extra", SET_EXTRA)):
        given = [
            {"b_id": s.id, f"b_{column}": getattr(s, column)}
            for s in changed
            if getattr(s, column) is not None
        ]
        if given:
            connection.execute(statement, given)
    touched = [(s.id, key, a) for s in changed for key, a in s.actions.items() if a.changed]
    old = [{"b_state": i, "b_hash": key, "b_updated_at": a.updated_at}
           | {f"b_{n}": getattr(a, n) for n in ACTION_VALUES.split()}
           for i, key, a in touched if a.stored]  # fmt: skip
    if old:
        connection.execute(SET_ACTION, old)
    new = [{"experience_id": i, "action_hash": key, "action": a.action, "updated_at": a.updated_at}
           | {n: getattr(a, n) for n in ACTION_VALUES.split()}
           for i, key, a in touched if not a.stored]  # fmt: skip
    if new:
        connection.execute(ADD_ACTION, new)
    for s in states:
        s.changed, s.dropped = False, []
        s.available_actions = s.extra = None
        for a in s.actions.values():
            a.changed, a.stored = False, True
