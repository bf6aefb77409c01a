"""Read-only views of a memory database for people: namespace summaries, statistics, listings, one state.

Nothing here embeds text or writes, so namespaces built with any embedding model can be inspected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session, selectinload

from memory_store.db.database import Database
from memory_store.db.models import ActionValue, Eviction, Experience, Namespace
from memory_store.db.namespaces import NamespaceInfo, get_namespace
from memory_store.errors import InvalidArgument, NotFound
from memory_store.records import ExperienceRecord
from memory_store.vectors.index_file import database_index_dir, namespace_index_files

HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class NamespaceSummary:
    """One namespace at a glance; `db_bytes` means what `storage_note` says for this database."""

    name: str
    embedding_model: str
    embedding_dim: int
    states: int
    actions: int
    db_bytes: int
    index_bytes: int
    created_at: datetime
    last_update: datetime


@dataclass(frozen=True)
class StateLine:
    """A state in one line: what listings show."""

    id: int
    task: str
    observation: str
    visits: int
    actions: int
    best_action: str | None
    best_q: float | None
    updated_at: datetime

    @classmethod
    def of(cls, record: ExperienceRecord) -> StateLine:
        """Summarise a stored state."""
        best = record.best_action()
        return cls(
            record.id,
            record.task,
            record.observation,
            record.visits,
            len(record.actions),
            best.action if best else None,
            best.q if best else None,
            record.updated_at,
        )


@dataclass(frozen=True)
class QDistribution:
    """Quantiles of the Q values of a namespace, and a histogram of (low, high, count) bins."""

    count: int
    mean: float
    min: float
    p25: float
    median: float
    p75: float
    max: float
    histogram: list[tuple[float, float, int]]

    @classmethod
    def of(cls, values: np.ndarray) -> QDistribution | None:
        """The distribution of some Q values, or None when there are none."""
        if not len(values):
            return None
        low, p25, median, p75, high = np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
        bins = [(float(a), float(b), int(c)) for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)]
        return cls(len(values), float(values.mean()), low, p25, median, p75, high, bins)


@dataclass(frozen=True)
class NamespaceStats:
    """What a namespace has learned: counts, Q values, busiest states, states with no good action."""

    namespace: str
    states: int
    actions: int
    visits: int
    q: QDistribution | None
    most_visited: list[StateLine]
    not_positive: int
    not_positive_examples: list[StateLine]
    evictions: dict[str, int]


@dataclass(frozen=True)
class Page:
    """One page of a filtered listing, and how many states match in all."""

    total: int
    offset: int
    limit: int
    states: list[StateLine]


@dataclass(frozen=True)
class StateDetail:
    """One stored state with its namespace and everything learned about it."""

    namespace: str
    experience: ExperienceRecord


def storage_note(db: Database) -> str:
    """What `NamespaceSummary.db_bytes` measures on this database."""
    if db.dialect == "sqlite":
        return "SQLite file with its WAL, shared by all namespaces"
    return "estimate: this namespace's share of the state and action tables"


def sqlite_bytes(db: Database) -> int:
    """The size of the SQLite file and its write-ahead log."""
    path = Path(db.url.database)
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


def by_namespace(session: Session, value: Any, *, over_actions: bool = False) -> dict[int, Any]:
    """An aggregate of the states (or, `over_actions`, of their actions) of each namespace, by id."""
    query = select(Experience.namespace_id, value)
    if over_actions:
        query = query.join(ActionValue, ActionValue.experience_id == Experience.id)
    return dict(session.execute(query.group_by(Experience.namespace_id)).all())


def database_bytes(
    db: Database, session: Session, ids: list[int], states: dict[int, int], actions: dict[int, int]
) -> dict[int, int]:
    """Bytes of database storage of each namespace id, as `storage_note` describes them."""
    if db.dialect == "sqlite":
        return dict.fromkeys(ids, sqlite_bytes(db))
    share = dict.fromkeys(ids, 0)
    for table, counts in (("rlem_experiences", states), ("rlem_action_values", actions)):
        size = int(session.scalar(text("SELECT pg_total_relation_size(:t)"), {"t": table}))
        total = sum(counts.values()) or 1
        for namespace_id, count in counts.items():
            share[namespace_id] += round(size * count / total)
    return share


def namespace_summaries(db: Database, index_dir: Path | None = None) -> list[NamespaceSummary]:
    """Every namespace by name, with sizes; index files are looked for in `index_dir` or the default."""
    directory = index_dir or database_index_dir(db)
    with db.read() as session:
        namespaces = session.scalars(select(Namespace).order_by(Namespace.name)).all()
        states = by_namespace(session, func.count(Experience.id))
        actions = by_namespace(session, func.count(ActionValue.id), over_actions=True)
        state_updates = by_namespace(session, func.max(Experience.updated_at))
        action_updates = by_namespace(session, func.max(ActionValue.updated_at), over_actions=True)
        stored = database_bytes(db, session, [row.id for row in namespaces], states, actions)
    summaries = []
    for row in namespaces:
        updates = [t for t in (state_updates.get(row.id), action_updates.get(row.id)) if t is not None]
        summaries.append(
            NamespaceSummary(
                name=row.name,
                embedding_model=row.embedding_model,
                embedding_dim=row.embedding_dim,
                states=int(states.get(row.id, 0)),
                actions=int(actions.get(row.id, 0)),
                db_bytes=stored[row.id],
                index_bytes=sum(p.stat().st_size for p in namespace_index_files(directory, row.id)),
                created_at=row.created_at,
                last_update=max(updates, default=row.created_at),
            )
        )
    return summaries


def load_records(session: Session, query: Select) -> list[ExperienceRecord]:
    """The states a query selects, with their actions."""
    return [
        ExperienceRecord.of(row) for row in session.scalars(query.options(selectinload(Experience.actions)))
    ]


def namespace_stats(db: Database, namespace: str, top: int = 10) -> NamespaceStats:
    """Statistics of one namespace; `top` bounds the example lists."""
    info = get_namespace(db, namespace)
    in_namespace = Experience.namespace_id == info.id
    with db.read() as session:
        states = int(session.scalar(select(func.count()).select_from(Experience).where(in_namespace)) or 0)
        visits = int(
            session.scalar(
                select(func.coalesce(func.sum(Experience.visits), 0))
                .select_from(Experience)
                .where(in_namespace)
            )
        )
        q_values = np.asarray(
            session.scalars(select(ActionValue.q).join(Experience).where(in_namespace)).all(), np.float64
        )
        most_visited = load_records(
            session,
            select(Experience)
            .where(in_namespace)
            .order_by(Experience.visits.desc(), Experience.id)
            .limit(top),
        )
        best = (
            select(ActionValue.experience_id)
            .join(Experience)
            .where(in_namespace)
            .group_by(ActionValue.experience_id)
            .having(func.max(ActionValue.q) <= 0)
        )
        not_positive = int(session.scalar(select(func.count()).select_from(best.subquery())) or 0)
        examples = load_records(
            session,
            select(Experience)
            .where(Experience.id.in_(best))
            .order_by(Experience.visits.desc(), Experience.id)
            .limit(top),
        )
        evictions = dict(
            session.execute(
                select(Eviction.kind, func.count())
                .where(Eviction.namespace_id == info.id)
                .group_by(Eviction.kind)
            ).all()
        )
    return NamespaceStats(
        namespace=info.name,
        states=states,
        actions=len(q_values),
        visits=visits,
        q=QDistribution.of(q_values),
        most_visited=[StateLine.of(r) for r in most_visited],
        not_positive=not_positive,
        not_positive_examples=[StateLine.of(r) for r in examples],
        evictions={kind: int(count) for kind, count in sorted(evictions.items())},
    )


def list_states(
    db: Database,
    namespace: str,
    *,
    task: str | None = None,
    min_visits: int | None = None,
    since: datetime | None = None,
    offset: int = 0,
    limit: int = 20,
) -> Page:
    """A page of a namespace's states by id: task containing `task` (any case), visited at least
    `min_visits` times, updated at or after `since`."""
    if offset < 0 or limit < 1:
        raise InvalidArgument(f"paging needs offset >= 0 and limit >= 1, got offset {offset}, limit {limit}")
    info = get_namespace(db, namespace)
    conditions = [Experience.namespace_id == info.id]
    if task:
        conditions.append(Experience.task.icontains(task, autoescape=True))
    if min_visits is not None:
        conditions.append(Experience.visits >= min_visits)
    if since is not None:
        conditions.append(Experience.updated_at >= since)
    with db.read() as session:
        total = int(session.scalar(select(func.count()).select_from(Experience).where(*conditions)) or 0)
        records = load_records(
            session, select(Experience).where(*conditions).order_by(Experience.id).offset(offset).limit(limit)
        )
    return Page(total, offset, limit, [StateLine.of(r) for r in records])


def missing_state(db: Database, state_id: int) -> NotFound:
    """The error for a state id that no namespace holds."""
    return NotFound(f"no state with id {state_id} in {db.display_url}")


def show_state(db: Database, state_id: int) -> StateDetail:
    """One state by id, in whichever namespace holds it."""
    with db.read() as session:
        row = session.scalars(
            select(Experience).where(Experience.id == state_id).options(selectinload(Experience.actions))
        ).one_or_none()
        if row is None:
            raise missing_state(db, state_id)
        name = session.scalar(select(Namespace.name).where(Namespace.id == row.namespace_id))
        return StateDetail(name, ExperienceRecord.of(row))


def state_namespace(db: Database, state_id: int) -> NamespaceInfo:
    """The namespace holding a state, or NotFound."""
    with db.read() as session:
        row = session.scalars(
            select(Namespace)
            .join(Experience, Experience.namespace_id == Namespace.id)
            .where(Experience.id == state_id)
        ).one_or_none()
        if row is None:
            raise missing_state(db, state_id)
        return NamespaceInfo.of(row)
