"""Namespaces: named memory banks, each bound to the embedding model and dimension it was built with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from memory_store.config import Capacity
from memory_store.db.database import Database
from memory_store.db.models import Namespace
from memory_store.errors import EmbeddingMismatch, UnknownNamespace
from memory_store.names import check_name, check_new_name
from memory_store.vectors.embedder import DEFAULT_RETRIEVAL_TEXT, RetrievalText


@dataclass(frozen=True)
class NamespaceInfo:
    """A namespace's identity and settings."""

    id: int
    name: str
    embedding_model: str
    embedding_dim: int
    max_states: int | None
    max_actions: int | None
    eviction_policy: str
    created_at: datetime
    retrieval_text: RetrievalText = DEFAULT_RETRIEVAL_TEXT

    @classmethod
    def of(cls, row: Namespace) -> NamespaceInfo:
        """Copy an ORM row."""
        return cls(
            row.id,
            row.name,
            row.embedding_model,
            row.embedding_dim,
            row.max_states,
            row.max_actions,
            row.eviction_policy,
            row.created_at,
            row.retrieval_text,
        )


def list_namespaces(db: Database) -> list[NamespaceInfo]:
    """Every namespace in the database, by name."""
    query = select(Namespace).order_by(Namespace.name)
    return db.read_call(lambda session: [NamespaceInfo.of(row) for row in session.scalars(query)])


def find(session: Session, name: str) -> Namespace | None:
    """The namespace row of that name, if any."""
    return session.scalars(select(Namespace).where(Namespace.name == name)).one_or_none()


def unknown(session: Session, db: Database, name: str) -> UnknownNamespace:
    """The error for a missing namespace, naming the ones the database has."""
    known = ", ".join(n.name for n in session.scalars(select(Namespace).order_by(Namespace.name))) or "none"
    return UnknownNamespace(
        f"namespace {name!r} does not exist in {db.display_url} (namespaces there: {known})"
    )


def get_namespace(db: Database, name: str) -> NamespaceInfo:
    """An existing namespace, whatever model it was built with (for tools that embed nothing)."""

    def work(session: Session) -> NamespaceInfo:
        row = find(session, name)
        if row is None:
            raise unknown(session, db, name)
        return NamespaceInfo.of(row)

    return db.read_call(work)


def open_namespace(
    db: Database,
    name: str,
    embedding_model: str,
    embedding_dim: int,
    capacity: Capacity = Capacity(),
    *,
    create: bool = True,
    retrieval_text: RetrievalText | None = None,
    internal: bool = False,
) -> NamespaceInfo:
    """Return the namespace, creating it if allowed; refuse one built with another embedding model.

    `retrieval_text` None takes the namespace's own (task+observation for a new one); any other
    value must match it. Only `internal` (rlem's own) namespaces may be created with a `~` name.
    """
    check_name(name)

    def work(session: Session) -> NamespaceInfo:
        if create and db.dialect == "postgresql":
            # Serialise concurrent creators of the same name instead of failing one on the unique key.
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
        row = find(session, name)
        if row is None:
            if not create:
                raise unknown(session, db, name)
            if not internal:
                check_new_name(name)
            row = Namespace(
                name=name,
                embedding_model=embedding_model,
                embedding_dim=embedding_dim,
                max_states=capacity.max_states,
                max_actions=capacity.max_actions,
                eviction_policy=capacity.eviction_policy,
                retrieval_text=retrieval_text or DEFAULT_RETRIEVAL_TEXT,
                states_inserted=0,
                states_deleted=0,
            )
            session.add(row)
            session.flush()
        if (row.embedding_model, row.embedding_dim) != (embedding_model, embedding_dim):
            raise EmbeddingMismatch(
                f"namespace {name!r} was built with embedding model {row.embedding_model!r} "
                f"({row.embedding_dim}-d), not {embedding_model!r} ({embedding_dim}-d): open it with "
                "that model, or re-embed it with `rlem memory reembed --model PATH`"
            )
        if retrieval_text is not None and row.retrieval_text != retrieval_text:
            raise EmbeddingMismatch(
                f"namespace {name!r} finds similar states by embedding the {row.retrieval_text} "
                f"text, not the {retrieval_text} text: use another namespace, or leave the "
                "retrieval text unset to take the namespace's own"
            )
        return NamespaceInfo.of(row)

    if not create:
        # Read-only callers must not take the write lock just to look a namespace up.
        return db.read_call(work)
    return db.write(work)


def set_capacity(db: Database, namespace_id: int, capacity: Capacity) -> NamespaceInfo:
    """Change a namespace's limits; they take effect on its next insertions."""

    def work(session: Session) -> NamespaceInfo:
        row = session.get_one(Namespace, namespace_id, with_for_update=True)
        row.max_states = capacity.max_states
        row.max_actions = capacity.max_actions
        row.eviction_policy = capacity.eviction_policy
        return NamespaceInfo.of(row)

    return db.write(work)
