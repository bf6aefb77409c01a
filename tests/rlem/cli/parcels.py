"""A memory of parcels big enough for copies, backups and re-embedding to take a while, and what a
database holds, for the fault drill and the full-disk tests."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from memory_store import ExperienceStore, StoreConfig
from memory_store.db.models import Experience, Namespace
from memory_store.records import ActionRecord, StateSnapshot
from memory_store.store import open_database
from memory_store.vectors.embedder import default_embedder

TASK = "Sort the parcels."


def parcels(count: int, *, vectors: bool) -> list[StateSnapshot]:
    """`count` states with two action values each; with `vectors`, random unit embeddings of their own,
    so a memory big enough for copies and backups to take a while is written without the model."""
    draw = np.random.default_rng(0)
    states = []
    for i in range(count):
        embedding = None
        if vectors:
            embedding = draw.standard_normal(384).astype(np.float32)
            embedding /= np.linalg.norm(embedding)
        states.append(
            StateSnapshot(
                TASK,
                f"Parcel {i} is on belt {i % 7}, addressed to street {i * 13 % 101}.",
                ("left", "right", "hold"),
                visits=i % 5 + 1,
                actions=(ActionRecord("left", "", i / 10, 0.5, 1), ActionRecord("hold", "", -i / 20, 0.0, 2)),
                embedding=embedding,
            )
        )
    return states


def contents(url: str) -> dict[str, list[tuple]]:
    """Every namespace's states with their action values, as the database holds them (no vectors)."""
    db = open_database(url, create=False)
    try:
        with db.read() as session:
            found = {}
            for namespace in session.scalars(select(Namespace).order_by(Namespace.name)):
                rows = session.scalars(
                    select(Experience)
                    .where(Experience.namespace_id == namespace.id)
                    .options(selectinload(Experience.actions))
                )
                found[namespace.name] = sorted(
                    (
                        e.task,
                        e.observation,
                        e.visits,
                        tuple(sorted((a.action, a.q, a.reward, a.visits) for a in e.actions)),
                    )
                    for e in rows
                )
            return found
    finally:
        db.close()


def fill(url: str, states: list[StateSnapshot]) -> str:
    """Write the states into namespace `parcels` of the database; return its URL."""
    with ExperienceStore.open(
        StoreConfig(url=url, namespace="parcels"), embedder=default_embedder()
    ) as store:
        store.put(states)
    return url
