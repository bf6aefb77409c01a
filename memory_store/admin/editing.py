"""Changes made by hand to a memory: one Q value, one state, stale states, whole namespaces.

Each change runs in one write transaction together with its audit rows, so both commit or neither
does. States are deleted through the store, which keeps the namespace counters (and so every
FAISS index, in this process or another) right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from memory_store.admin import audit
from memory_store.config import StoreConfig
from memory_store.db.database import Database
from memory_store.db.models import ActionValue, Experience, Namespace, utcnow
from memory_store.db.namespaces import NamespaceInfo, find, unknown
from memory_store.errors import InvalidArgument, NotFound
from memory_store.records import ExperienceRecord
from memory_store.store import ExperienceStore
from memory_store.transaction import StoreTransaction
from memory_store.vectors.index_file import database_index_dir, namespace_index_files
from memory_store.writes import locked_namespace


class StoredModel:
    """Stands in for a namespace's embedding model in a store that edits and deletes but never embeds."""

    def __init__(self, info: NamespaceInfo):
        self.model_name = info.embedding_model
        self.dim = info.embedding_dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Refuse: embedding needs the real model."""
        raise InvalidArgument(
            f"this store only edits; open it with embedding model {self.model_name!r} to embed"
        )


def open_for_editing(db: Database, info: NamespaceInfo, index_dir: Path | None = None) -> ExperienceStore:
    """A store on an existing namespace of an open database, whatever its model; `db` stays the caller's."""
    config = StoreConfig(
        url=db.url.render_as_string(hide_password=False), namespace=info.name, index_dir=index_dir
    )
    return ExperienceStore(db, info, StoredModel(info), config, owns_db=False)


def locked_records(tx: StoreTransaction, *conditions) -> list[ExperienceRecord]:
    """The namespace's states matching `conditions`, with their actions, locked against other writers."""
    # The namespace first, as inserting writers lock it, so that two writers never wait on each other.
    locked_namespace(tx.session, tx.namespace_id)
    rows = tx.session.scalars(
        select(Experience)
        .where(Experience.namespace_id == tx.namespace_id, *conditions)
        .order_by(Experience.id)
        .options(selectinload(Experience.actions))
        .with_for_update()
    )
    return [ExperienceRecord.of(row) for row in rows]


def delete_audited(
    tx: StoreTransaction, records: Sequence[ExperienceRecord], command: str, actor: str | None
) -> None:
    """Delete states through the store and write one audit row each, holding the state as exported."""
    tx.delete([r.id for r in records])
    for r in records:
        audit.record(tx.session, command, tx.store.namespace.name, "state", audit.state_document(r),
                     state_id=r.id, actor=actor)  # fmt: skip


def set_q(store: ExperienceStore, state_id: int, action: str, q: float, *, actor: str | None = None) -> float:
    """Set Q of one action of one state (nothing else changes); return the old Q. `actor` is who,
    for the audit row."""
    if not math.isfinite(q):
        raise InvalidArgument(f"Q must be a finite number, got {q}")
    name = store.namespace.name

    def work(tx: StoreTransaction) -> float:
        row = tx.session.scalars(
            select(Experience)
            .where(Experience.id == state_id, Experience.namespace_id == tx.namespace_id)
            .options(selectinload(Experience.actions))
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound(f"no state with id {state_id} in namespace {name!r}")
        value = next((a for a in row.actions if a.action == action), None)
        if value is None:
            known = ", ".join(repr(a.action) for a in row.actions) or "none"
            raise NotFound(f"state {state_id} has no action {action!r} (its actions: {known})")
        old = value.q
        value.q, value.updated_at = q, utcnow()
        tx.changed_states([state_id])
        audit.record(tx.session, "edit", name, "q", old, q, state_id=state_id, action=action, actor=actor)
        return old

    return store.transaction(work)


def delete_state(store: ExperienceStore, state_id: int, *, actor: str | None = None) -> ExperienceRecord:
    """Delete one state (and its actions); return what it held."""

    def work(tx: StoreTransaction) -> ExperienceRecord:
        found = locked_records(tx, Experience.id == state_id)
        if not found:
            raise NotFound(f"no state with id {state_id} in namespace {store.namespace.name!r}")
        delete_audited(tx, found, "delete", actor)
        return found[0]

    return store.transaction(work)


def prune(
    store: ExperienceStore,
    *,
    min_visits: int | None = None,
    older_than: timedelta | None = None,
    actor: str | None = None,
) -> list[ExperienceRecord]:
    """Delete the states visited fewer than `min_visits` times and/or last updated longer ago than
    `older_than` (a state must meet every condition given); return them."""
    if min_visits is None and older_than is None:
        raise InvalidArgument("prune needs a condition: fewer visits than N, or older than some days")
    conditions, words = [], ["prune"]
    if min_visits is not None:
        conditions.append(Experience.visits < min_visits)
        words.append(f"--min-visits {min_visits}")
    if older_than is not None:
        conditions.append(Experience.updated_at < utcnow() - older_than)
        words.append(f"--older-than {older_than.total_seconds() / 86400:g}")

    def work(tx: StoreTransaction) -> list[ExperienceRecord]:
        found = locked_records(tx, *conditions)
        delete_audited(tx, found, " ".join(words), actor)
        return found

    return store.transaction(work)


@dataclass(frozen=True)
class DeletedNamespace:
    """What a deleted namespace held."""

    name: str
    embedding_model: str
    embedding_dim: int
    states: int
    actions: int


def delete_namespaces(
    db: Database, names: Sequence[str], index_dir: Path | None = None, *, actor: str | None = None
) -> list[DeletedNamespace]:
    """Delete namespaces with everything in them, in one transaction (audited), then their indexes."""
    directory = index_dir or database_index_dir(db)

    def work(session: Session) -> tuple[list[DeletedNamespace], list[int]]:
        deleted, ids = [], []
        for name in names:
            row = find(session, name)
            if row is None:
                raise unknown(session, db, name)
            locked_namespace(session, row.id)
            states = session.scalar(
                select(func.count()).select_from(Experience).where(Experience.namespace_id == row.id)
            )
            actions = session.scalar(
                select(func.count(ActionValue.id)).join(Experience).where(Experience.namespace_id == row.id)
            )
            gone = DeletedNamespace(name, row.embedding_model, row.embedding_dim, int(states), int(actions))
            old = {"embedding_model": gone.embedding_model, "embedding_dim": gone.embedding_dim}
            old |= {"states": gone.states, "actions": gone.actions}
            audit.record(session, "delete-namespace", name, "namespace", old, actor=actor)
            # The database cascades to states, actions and evictions.
            session.execute(delete(Namespace).where(Namespace.id == row.id))
            deleted.append(gone)
            ids.append(row.id)
        return deleted, ids

    deleted, ids = db.write(work)
    remove_index_files(directory, ids)
    return deleted


def remove_index_files(directory: Path, namespace_ids: Sequence[int]) -> None:
    """Remove the persisted indexes of namespaces that no longer exist (ids are never reused)."""
    for namespace_id in namespace_ids:
        for path in namespace_index_files(directory, namespace_id):
            path.unlink(missing_ok=True)
