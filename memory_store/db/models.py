"""SQLAlchemy 2 models of the experience memory; the schema itself is owned by Alembic migrations."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")

SCHEMA_VERSION_TABLE = "rlem_schema_version"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_generation() -> str:
    """A fresh, random content generation (see `Namespace.generation`)."""
    return uuid.uuid4().hex


class UtcDateTime(TypeDecorator):
    """A timestamp that always reads back timezone-aware in UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def state_hash(task: str, observation: str) -> str:
    """The identity of a state: SHA-256 over task and observation (hex)."""
    digest = hashlib.sha256()
    for part in (task, observation):
        data = part.encode("utf-8")
        # Length-prefixing keeps ("ab", "c") and ("a", "bc") apart.
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def observation_hash(observation: str) -> str:
    """The identity of an observation text across the tasks of a namespace (hex SHA-256)."""
    return hashlib.sha256(observation.encode("utf-8")).hexdigest()


def observation_hash_default(context) -> str:
    """A new row's observation hash, from the row's own observation: no insert can leave it out."""
    return observation_hash(context.get_current_parameters()["observation"])


def action_hash(action: str) -> str:
    """The identity of an action text within a state (hex SHA-256), short enough for any index."""
    return hashlib.sha256(action.encode("utf-8")).hexdigest()


class Base(DeclarativeBase):
    """Declarative base of all rlem tables."""


class Namespace(Base):
    """A named memory bank with the embedding model it was built with and its capacity settings."""

    __tablename__ = "rlem_namespaces"
    # AUTOINCREMENT: SQLite must never reuse an id, or a saved index could take a new row for an old one.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    embedding_model: Mapped[str] = mapped_column(String(500))
    embedding_dim: Mapped[int] = mapped_column(Integer)
    max_states: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_actions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eviction_policy: Mapped[str] = mapped_column(String(20), default="paper")
    retrieval_text: Mapped[str] = mapped_column(String(20), default="task+observation")
    # Monotonic counters: derived indexes compare them to know whether they are current.
    states_inserted: Mapped[int] = mapped_column(BigInteger, default=0)
    states_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    # Replaced, in the same transaction, whenever the set of stored vectors changes: a persisted
    # index is used only if it was saved at this generation (vectors/index_file.py), so a copied, restored
    # or diverged database never serves another content's vectors.
    generation: Mapped[str | None] = mapped_column(String(32), default=new_generation)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Experience(Base):
    """A stored state: task and observation text, its embedding, visit statistics and action values."""

    __tablename__ = "rlem_experiences"
    __table_args__ = (
        UniqueConstraint("namespace_id", "state_hash", name="uq_rlem_experiences_state"),
        Index("ix_rlem_experiences_lru", "namespace_id", "updated_at"),
        Index("ix_rlem_experiences_observation", "namespace_id", "observation_hash"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(
        Id, ForeignKey("rlem_namespaces.id", ondelete="CASCADE"), index=True
    )
    state_hash: Mapped[str] = mapped_column(String(64))
    # The same observation in other tasks is the same situation where a namespace retrieves on the
    # observation alone (random maps): those states are found by this, not by similarity.
    observation_hash: Mapped[str | None] = mapped_column(String(64), default=observation_hash_default)
    task: Mapped[str] = mapped_column(Text)
    observation: Mapped[str] = mapped_column(Text)
    available_actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra: Mapped[str] = mapped_column(Text, default="")
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    last_reward: Mapped[float] = mapped_column(Double, default=0.0)
    total_reward: Mapped[float] = mapped_column(Double, default=0.0)
    action_history: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    actions: Mapped[list[ActionValue]] = relationship(
        back_populates="experience",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ActionValue.id",
    )


class ActionValue(Base):
    """The value estimate of one action taken in one stored state."""

    __tablename__ = "rlem_action_values"
    __table_args__ = (UniqueConstraint("experience_id", "action_hash", name="uq_rlem_action_values_action"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    experience_id: Mapped[int] = mapped_column(
        Id, ForeignKey("rlem_experiences.id", ondelete="CASCADE"), index=True
    )
    action_hash: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    q: Mapped[float] = mapped_column(Double, default=0.0)
    reward: Mapped[float] = mapped_column(Double, default=0.0)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    experience: Mapped[Experience] = relationship(back_populates="actions")


class NamespaceChange(Base):
    """How many write transactions one writer slot has made in a namespace. Their sum only grows, so
    a store's cached rows are valid while it stays the same (record_cache.py); each writer counts in
    its own slot, so that writers never wait on one row to count."""

    __tablename__ = "rlem_namespace_changes"

    namespace_id: Mapped[int] = mapped_column(
        Id, ForeignKey("rlem_namespaces.id", ondelete="CASCADE"), primary_key=True
    )
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class Eviction(Base):
    """A log row for every state or action the capacity policy removed or refused."""

    __tablename__ = "rlem_evictions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(
        Id, ForeignKey("rlem_namespaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    policy: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(Text)
    observation: Mapped[str] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RunEpisode(Base):
    """A training episode whose memory updates are committed, written in the same transaction."""

    __tablename__ = "rlem_run_episodes"
    __table_args__ = (UniqueConstraint("run_id", "episode", name="uq_rlem_run_episodes"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    episode: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditEntry(Base):
    """One change made by hand (edit, delete, prune, re-embed, copy), written in the change's transaction."""

    __tablename__ = "rlem_audit"
    # Names, not foreign keys: an audit row must outlive the namespace or state it describes.
    __table_args__ = (Index("ix_rlem_audit_namespace", "namespace", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    command: Mapped[str] = mapped_column(String(50))
    namespace: Mapped[str] = mapped_column(String(200))
    state_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    action: Mapped[str | None] = mapped_column(Text, nullable=True)
    what: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[object | None] = mapped_column(JSON, nullable=True)
    new_value: Mapped[object | None] = mapped_column(JSON, nullable=True)
    # Who made the change: "cli", or the API key of `rlem serve` ("key 3 (rlem_ab12...)").
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ApiKeyRow(Base):
    """An API key of `rlem serve`: the SHA-256 of its token (never the token), its namespace
    ("*" for all) and scope."""

    __tablename__ = "rlem_api_keys"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
