"""Re-embedding namespaces with another embedding model, switched over in one transaction.

The new vectors are written first into a staging namespace (`NAME~reembed-ID-PID@HOST`, same state keys,
new model and dimension), a chunk per transaction, while the live namespace keeps serving. Then one
transaction catches up states added meanwhile, copies the new vectors onto the live states, moves
those states (ids, actions, visits and all) into the staging namespace's row, drops the old row and
gives the new one the old name. A crash before that transaction commits leaves the live namespace
as it was (the next run on this machine removes what the ended process staged, with audit rows);
after it, the namespace records the
new model, so a store opened with the old one is refused, and processes still holding the old row
fail on their next access instead of mixing two models' vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from memory_store.admin import audit
from memory_store.admin.editing import delete_namespaces, remove_index_files
from memory_store.db.database import Database
from memory_store.db.models import Eviction, Experience, Namespace, new_generation, utcnow
from memory_store.db.namespaces import NamespaceInfo, get_namespace, open_namespace
from memory_store.errors import InvalidArgument
from memory_store.names import is_staging, staging_name, staging_owner, staging_prefix
from memory_store.owners import has_ended, owner_tag
from memory_store.vectors.embedder import Embedder, RetrievalText, state_text
from memory_store.vectors.index import check_vectors, normalized
from memory_store.vectors.index_file import database_index_dir

log = logging.getLogger(__name__)

CHUNK = 256

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Reembedded:
    """What re-embedding did to one namespace."""

    name: str
    old_model: str
    old_dim: int
    new_model: str
    new_dim: int
    states: int


def abandoned(name: str) -> bool:
    """Whether a staging namespace's owner was a process of this machine that has ended."""
    return has_ended(staging_owner(name))


def remove_abandoned(db: Database, live: str, index_dir: Path | None) -> None:
    """Delete (audited) the staging namespaces of `live` that ended processes left; report the rest."""
    prefix = staging_prefix(live)
    with db.read() as session:
        found = list(
            session.scalars(select(Namespace.name).where(Namespace.name.startswith(prefix, autoescape=True)))
        )
    gone = [name for name in found if abandoned(name)]
    if gone:
        delete_namespaces(db, gone, index_dir)
        log.info("removed %d staging namespaces left by interrupted re-embeddings: %s", len(gone), gone)
    for name in sorted(set(found) - set(gone)):
        log.warning(
            "staging namespace %s belongs to a re-embedding still running or on another machine; "
            "if none is, delete it with `rlem memory delete-namespace`",
            name,
        )


@dataclass(frozen=True)
class Pending:
    """A live state still to be embedded with the new model."""

    id: int
    state_hash: str
    task: str
    observation: str


def pending(session: Session, live_id: int, staging_id: int, after: int, limit: int | None) -> list[Pending]:
    """Live states past id `after` that the staging namespace has no vector for yet, by id."""
    staged = select(Experience.state_hash).where(Experience.namespace_id == staging_id)
    query = (
        select(Experience.id, Experience.state_hash, Experience.task, Experience.observation)
        .where(
            Experience.namespace_id == live_id, Experience.id > after, Experience.state_hash.not_in(staged)
        )
        .order_by(Experience.id)
        .limit(limit)
    )
    return [Pending(*row) for row in session.execute(query)]


def embed_pending(embedder: Embedder, rows: Sequence[Pending], retrieval_text: RetrievalText) -> np.ndarray:
    """Unit vectors of the states' texts, checked against the embedder's declared dimension."""
    texts = [state_text(r.task, r.observation, retrieval_text) for r in rows]
    return normalized(check_vectors(embedder.embed(texts), embedder.dim))


def write_staged(session: Session, staging_id: int, rows: Sequence[Pending], new: np.ndarray) -> None:
    """Write new vectors of live states into the staging namespace (keys and texts only)."""
    now = utcnow()
    session.execute(
        insert(Experience),
        [
            {
                "namespace_id": staging_id,
                "state_hash": r.state_hash,
                "task": r.task,
                "observation": r.observation,
                "available_actions": [],
                "extra": "",
                "embedding": np.asarray(v, np.float32).tobytes(),
                "visits": 0,
                "last_reward": 0.0,
                "total_reward": 0.0,
                "action_history": [],
                "created_at": now,
                "updated_at": now,
            }
            for r, v in zip(rows, new, strict=True)
        ],
    )


def stage(
    db: Database, live: NamespaceInfo, staging: NamespaceInfo, embedder: Embedder, progress: Progress
) -> None:
    """Embed every live state into the staging namespace, a chunk at a time; embedding happens
    outside transactions, so the live namespace's writers are not held up."""
    with db.read() as session:
        total = int(
            session.scalar(
                select(func.count()).select_from(Experience).where(Experience.namespace_id == live.id)
            )
        )
    done, after = 0, 0
    while True:
        with db.read() as session:
            rows = pending(session, live.id, staging.id, after, CHUNK)
        if not rows:
            return
        new = embed_pending(embedder, rows, live.retrieval_text)
        db.write(lambda session, rows=rows, new=new: write_staged(session, staging.id, rows, new))
        done, after = done + len(rows), rows[-1].id
        progress(done, max(total, done))


def switch(
    session: Session, live: NamespaceInfo, staging: NamespaceInfo, embedder: Embedder, actor: str | None
) -> Reembedded:
    """In the caller's transaction: give the live states their new vectors and the live name the new row."""
    old = session.get_one(Namespace, live.id, with_for_update=True, populate_existing=True)
    new = session.get_one(Namespace, staging.id, with_for_update=True, populate_existing=True)
    # States the live namespace gained since staging: few, so embedding them under the lock is brief.
    late = pending(session, live.id, staging.id, 0, None)
    if late:
        write_staged(session, staging.id, late, embed_pending(embedder, late, live.retrieval_text))
    staged = aliased(Experience)
    session.execute(
        update(Experience)
        .where(Experience.namespace_id == live.id)
        .values(
            embedding=select(staged.embedding)
            .where(staged.namespace_id == staging.id, staged.state_hash == Experience.state_hash)
            .scalar_subquery()
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Experience)
        .where(Experience.namespace_id == staging.id)
        .execution_options(synchronize_session=False)
    )
    moved = session.execute(
        update(Experience)
        .where(Experience.namespace_id == live.id)
        .values(namespace_id=staging.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(
        update(Eviction)
        .where(Eviction.namespace_id == live.id)
        .values(namespace_id=staging.id)
        .execution_options(synchronize_session=False)
    )
    new.max_states, new.max_actions, new.eviction_policy, new.retrieval_text = (
        old.max_states,
        old.max_actions,
        old.eviction_policy,
        old.retrieval_text,
    )
    new.states_inserted, new.states_deleted, new.generation = moved, 0, new_generation()
    new.created_at, new.updated_at = old.created_at, utcnow()
    session.execute(delete(Namespace).where(Namespace.id == live.id))
    session.flush()
    new.name = live.name
    result = Reembedded(
        live.name, live.embedding_model, live.embedding_dim, embedder.model_name, embedder.dim, moved
    )
    audit.record(
        session,
        "reembed",
        live.name,
        "embedding_model",
        {"model": result.old_model, "dim": result.old_dim},
        {"model": result.new_model, "dim": result.new_dim, "states": moved},
        actor=actor,
    )
    return result


def reembed(
    db: Database,
    names: Sequence[str],
    embedder: Embedder,
    *,
    index_dir: Path | None = None,
    progress: Callable[[str], Progress] | None = None,
    actor: str | None = None,
) -> list[Reembedded]:
    """Re-embed namespaces with `embedder` and switch them all over in one transaction.

    `progress(name)` gives a callback `(done, total)` for that namespace's embedding pass; `actor` is
    who, for the audit.
    """
    if len(set(names)) != len(names):
        raise InvalidArgument("a namespace to re-embed is named twice")
    lives = [get_namespace(db, name) for name in names]
    for live in lives:
        if is_staging(live.name):
            raise InvalidArgument(f"{live.name!r} is a staging namespace of an interrupted re-embedding")
        remove_abandoned(db, live.name, index_dir)
    stagings = [
        open_namespace(
            db, staging_name(live.name, owner_tag()), embedder.model_name, embedder.dim, internal=True
        )
        for live in lives
    ]

    def work(session: Session) -> list[Reembedded]:
        return [
            switch(session, live, staging, embedder, actor)
            for live, staging in zip(lives, stagings, strict=True)
        ]

    try:
        for live, staging in zip(lives, stagings, strict=True):
            stage(db, live, staging, embedder, progress(live.name) if progress else lambda done, total: None)
        results = db.write(work)
    except BaseException:
        try:
            delete_namespaces(db, [s.name for s in stagings], index_dir)
        except Exception as exc:  # the original error matters more; the next run removes leftovers
            log.warning("could not remove the staging namespaces: %s", exc)
        raise
    remove_index_files(index_dir or database_index_dir(db), [live.id for live in lives])
    return results
