"""Plain values that cross the store's boundary: what callers write and what they read back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import Row

from memory_store.db.models import ActionValue, Eviction, Experience


@dataclass(frozen=True)
class Update:
    """One learning update of (state, action): Q moves toward `target`, reward toward `reward`.

    `last_reward` is the reward on arriving in the state, `total_reward` the episode's sum up to it,
    `action_history` the actions taken before it in this episode. `embedding` is used for a new
    state instead of embedding its text (imports, copies between databases).
    """

    task: str
    observation: str
    action: str
    target: float
    reward: float
    available_actions: tuple[str, ...] = ()
    reason: str = ""
    last_reward: float = 0.0
    total_reward: float = 0.0
    action_history: tuple[str, ...] = ()
    extra: str = ""
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Outcome:
    """What one update did: `updated`, or `rejected` when a full namespace refused the new state."""

    status: str
    state_id: int | None
    evicted_state_id: int | None = None
    evicted_action: str | None = None


@dataclass(frozen=True)
class ActionRecord:
    """An action's value estimate in one state."""

    action: str
    reason: str
    q: float
    reward: float
    visits: int

    @classmethod
    def of(cls, row: ActionValue) -> ActionRecord:
        """Copy an ORM row."""
        return cls(row.action, row.reason, row.q, row.reward, row.visits)


@dataclass(frozen=True)
class ExperienceRecord:
    """A stored state with everything learned about it."""

    id: int
    task: str
    observation: str
    available_actions: tuple[str, ...]
    extra: str
    visits: int
    last_reward: float
    total_reward: float
    action_history: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    actions: tuple[ActionRecord, ...] = field(default=())

    @classmethod
    def of(cls, row: Experience | Row, actions: Sequence[ActionRecord] | None = None) -> ExperienceRecord:
        """Copy an ORM row and its actions, or a result row of the same columns and `actions`."""
        return cls(
            id=row.id,
            task=row.task,
            observation=row.observation,
            available_actions=tuple(row.available_actions),
            extra=row.extra,
            visits=row.visits,
            last_reward=row.last_reward,
            total_reward=row.total_reward,
            action_history=tuple(row.action_history),
            created_at=row.created_at,
            updated_at=row.updated_at,
            actions=tuple(actions if actions is not None else (ActionRecord.of(a) for a in row.actions)),
        )

    def action(self, name: str) -> ActionRecord | None:
        """The record of one action, if it was ever taken here."""
        return next((a for a in self.actions if a.action == name), None)

    def best_action(self) -> ActionRecord | None:
        """The action with the highest Q (the earliest recorded one on ties), if any."""
        return max(self.actions, key=lambda a: a.q, default=None)


def pooled(records: Sequence[ExperienceRecord]) -> dict[str, ActionRecord]:
    """Per action, what several states that are one situation know of it, as if they were one state:
    Q and reward are visit-weighted means (the mean of every update they took), visits summed."""
    if len(records) == 1:
        return {value.action: value for value in records[0].actions}
    found: dict[str, list[float]] = {}
    for record in records:
        for value in record.actions:
            # An imported value may carry no visits; it still says something.
            weight = max(value.visits, 1)
            sums = found.setdefault(value.action, [0.0, 0.0, 0.0, 0])
            sums[0] += weight
            sums[1] += weight * value.q
            sums[2] += weight * value.reward
            sums[3] += value.visits
    return {
        action: ActionRecord(action, "", q / weight, reward / weight, int(visits))
        for action, (weight, q, reward, visits) in found.items()
    }


@dataclass(frozen=True)
class StateSnapshot:
    """A state with everything learned about it, as imports and copies write it."""

    task: str
    observation: str
    available_actions: tuple[str, ...] = ()
    extra: str = ""
    visits: int = 0
    last_reward: float = 0.0
    total_reward: float = 0.0
    action_history: tuple[str, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, record: ExperienceRecord) -> StateSnapshot:
        """The snapshot of a stored state (without its embedding)."""
        return cls(
            record.task,
            record.observation,
            record.available_actions,
            record.extra,
            record.visits,
            record.last_reward,
            record.total_reward,
            record.action_history,
            record.actions,
        )


@dataclass(frozen=True)
class Retrieved:
    """A state returned by retrieval, with its cosine similarity to the query."""

    similarity: float
    experience: ExperienceRecord


@dataclass(frozen=True)
class EvictionRecord:
    """One entry of the eviction log: a state or action removed, or a new state refused."""

    kind: str
    policy: str
    task: str
    observation: str
    action: str | None
    details: str
    created_at: datetime

    @classmethod
    def of(cls, row: Eviction) -> EvictionRecord:
        """Copy an ORM row."""
        return cls(row.kind, row.policy, row.task, row.observation, row.action, row.details, row.created_at)
