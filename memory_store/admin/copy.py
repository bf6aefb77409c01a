"""Copying namespaces between databases verbatim: states with their embeddings, actions and evictions.

Nothing is re-embedded: the target namespace records the source's embedding model and dimension,
so it opens with the same embedder. The source is read in one snapshot and the target written in
one transaction, so the copy is all there or not there at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import DeclarativeBase, Session, selectinload

from memory_store.admin import audit
from memory_store.admin.editing import remove_index_files
from memory_store.db.database import Database
from memory_store.db.models import ActionValue, Eviction, Experience, Namespace
from memory_store.db.namespaces import find, unknown
from memory_store.errors import EmbeddingMismatch, InvalidArgument
from memory_store.vectors.index_file import database_index_dir

# Settings copied as they are; counters, generation and timestamps describe the new row instead.
OWN_COLUMNS = ("id", "states_inserted", "states_deleted", "generation", "created_at", "updated_at")


@dataclass(frozen=True)
class Copied:
    """What one namespace's copy wrote, and how many states the target namespace held before (replaced)."""

    name: str
    embedding_model: str
    embedding_dim: int
    states: int
    actions: int
    evictions: int
    replaced: int | None


@dataclass(frozen=True)
class Source:
    """One namespace read from the source database, rows detached from their session."""

    namespace: Namespace
    experiences: list[Experience]
    evictions: list[Eviction]


def columns(row: DeclarativeBase, *skip: str) -> dict:
    """A row's column values by attribute name, without the `skip`ped ones."""
    return {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs if c.key not in skip}


def same_database(a: Database, b: Database) -> bool:
    """Whether two URLs lead to one database (SQLite paths compared resolved)."""
    if a.dialect == b.dialect == "sqlite":
        return Path(a.url.database).resolve() == Path(b.url.database).resolve()
    return a.url == b.url


def read_sources(db: Database, names: Sequence[str]) -> list[Source]:
    """The namespaces with everything in them, read in one consistent snapshot."""
    with db.read() as session:
        if db.dialect == "postgresql":
            # One snapshot for all the statements below, so actions match their states.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        sources = []
        for name in names:
            row = find(session, name)
            if row is None:
                raise unknown(session, db, name)
            experiences = session.scalars(
                select(Experience)
                .where(Experience.namespace_id == row.id)
                .order_by(Experience.id)
                .options(selectinload(Experience.actions))
            ).all()
            evictions = session.scalars(
                select(Eviction).where(Eviction.namespace_id == row.id).order_by(Eviction.id)
            ).all()
            sources.append(Source(row, list(experiences), list(evictions)))
        return sources


def clear_target(
    session: Session, db: Database, source: Namespace, replace: bool
) -> tuple[int | None, int | None]:
    """Make room for a copy of `source`: refuse a non-empty or differently embedded namespace unless
    `replace`, which deletes it. Returns (its id, states it held), or (None, None) if there was none."""
    if db.dialect == "postgresql":
        # Serialise with concurrent creators of the same name (as open_namespace does).
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": source.name})
    existing = find(session, source.name)
    if existing is None:
        return None, None
    held = int(
        session.scalar(
            select(func.count()).select_from(Experience).where(Experience.namespace_id == existing.id)
        )
    )
    if held and not replace:
        raise InvalidArgument(
            f"namespace {source.name!r} in {db.display_url} already holds {held} states: "
            "copy into an empty database or namespace, or replace it (--replace)"
        )
    if (existing.embedding_model, existing.embedding_dim) != (source.embedding_model, source.embedding_dim):
        if not replace:
            raise EmbeddingMismatch(
                f"namespace {source.name!r} in {db.display_url} is bound to embedding model "
                f"{existing.embedding_model!r} ({existing.embedding_dim}-d), the copy to "
                f"{source.embedding_model!r} ({source.embedding_dim}-d): replace it (--replace)"
            )
    session.execute(delete(Namespace).where(Namespace.id == existing.id))
    session.flush()
    return existing.id, held


def write_copy(session: Session, source: Source) -> Namespace:
    """Insert the namespace row, its states with their actions, and its evictions."""
    row = Namespace(
        **columns(source.namespace, *OWN_COLUMNS),
        states_inserted=len(source.experiences),
        states_deleted=0,
    )
    session.add(row)
    session.flush()
    session.add_all(
        Experience(
            **columns(e, "id", "namespace_id"),
            namespace_id=row.id,
            actions=[ActionValue(**columns(a, "id", "experience_id")) for a in e.actions],
        )
        for e in source.experiences
    )
    session.add_all(
        Eviction(**columns(v, "id", "namespace_id"), namespace_id=row.id) for v in source.evictions
    )
    session.flush()
    return row


def copy_namespaces(
    source_db: Database,
    target_db: Database,
    names: Sequence[str],
    *,
    replace: bool = False,
    index_dir: Path | None = None,
    actor: str | None = None,
) -> list[Copied]:
    """Copy namespaces from one database into another in one target transaction; return what was copied.

    `index_dir` is where the target keeps index files, if not in its default place; `actor` is who,
    for the audit.
    """
    if same_database(source_db, target_db):
        raise InvalidArgument(f"source and target are the same database ({source_db.display_url})")
    sources = read_sources(source_db, names)

    def work(session: Session) -> tuple[list[Copied], list[int]]:
        copied, replaced_ids = [], []
        for source in sources:
            old_id, held = clear_target(session, target_db, source.namespace, replace)
            if old_id is not None:
                replaced_ids.append(old_id)
            write_copy(session, source)
            done = Copied(
                source.namespace.name,
                source.namespace.embedding_model,
                source.namespace.embedding_dim,
                len(source.experiences),
                sum(len(e.actions) for e in source.experiences),
                len(source.evictions),
                held,
            )
            new = {"from": source_db.display_url, "embedding_model": done.embedding_model}
            new |= {"embedding_dim": done.embedding_dim, "states": done.states, "actions": done.actions}
            audit.record(
                session,
                "copy",
                done.name,
                "namespace",
                {"states": held} if held is not None else None,
                new,
                actor=actor,
            )
            copied.append(done)
        return copied, replaced_ids

    copied, replaced_ids = target_db.write(work)
    remove_index_files(index_dir or database_index_dir(target_db), replaced_ids)
    return copied
