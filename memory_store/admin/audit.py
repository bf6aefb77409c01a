"""The audit log: what each change made by hand did, written in the same transaction as the change.

A change and its audit rows commit together or not at all. Rows name namespaces and states
instead of referencing them, so they outlive what they describe (deleted states, namespaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from memory_store.db.database import Database
from memory_store.db.models import AuditEntry
from memory_store.formats.json_format import fields
from memory_store.records import ExperienceRecord, StateSnapshot


@dataclass(frozen=True)
class AuditRecord:
    """One audit row: when, which command, what it changed in which namespace, old and new values."""

    id: int
    at: datetime
    command: str
    namespace: str
    state_id: int | None
    action: str | None
    what: str
    old_value: Any
    new_value: Any
    # Who made it: "cli", or an API key of `rlem serve` (None for rows of an earlier rlem).
    actor: str | None = None

    @classmethod
    def of(cls, row: AuditEntry) -> AuditRecord:
        """Copy an ORM row."""
        return cls(
            row.id,
            row.at,
            row.command,
            row.namespace,
            row.state_id,
            row.action,
            row.what,
            row.old_value,
            row.new_value,
            row.actor,
        )


def record(
    session: Session,
    command: str,
    namespace: str,
    what: str,
    old: Any = None,
    new: Any = None,
    *,
    state_id: int | None = None,
    action: str | None = None,
    actor: str | None = None,
) -> None:
    """Add an audit row to the caller's write transaction (old and new values must be JSON data)."""
    session.add(
        AuditEntry(
            command=command,
            namespace=namespace,
            what=what,
            old_value=old,
            new_value=new,
            state_id=state_id,
            action=action,
            actor=actor,
        )
    )


def state_document(experience: ExperienceRecord) -> dict:
    """A state as the JSON memory format writes it, so a deleted one can be read back or re-imported."""
    return fields(StateSnapshot.of(experience))


def audit_log(db: Database, namespace: str | None = None, limit: int = 50) -> list[AuditRecord]:
    """The newest `limit` audit rows, newest first, of one namespace or of all."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if namespace is not None:
        query = query.where(AuditEntry.namespace == namespace)
    with db.read() as session:
        return [AuditRecord.of(row) for row in session.scalars(query)]
