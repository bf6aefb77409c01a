"""Copying namespaces between databases (SQLite to PostgreSQL and back) verbatim, without re-embedding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from memory_store import Capacity, ExperienceStore, StoreConfig
from memory_store.admin.audit import audit_log
from memory_store.admin.copy import copy_namespaces
from memory_store.db.database import Database
from memory_store.db.namespaces import open_namespace
from memory_store.errors import EmbeddingMismatch, InvalidArgument, UnknownNamespace
from memory_store.store import open_database
from tests.memory_store.filling import STATES, TASK, fill


@contextmanager
def opened(url: str) -> Iterator[Database]:
    db = open_database(url)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file beside the db_url fixture's (which is a PostgreSQL database in the postgresql runs)."""
    return f"sqlite:///{tmp_path / 'embedded.db'}"


@pytest.fixture
def source(sqlite_url: str, embedder, tmp_path: Path) -> Iterator[Database]:
    """A SQLite memory holding STATES (with two evictions) and a second Q table."""
    capacity = Capacity(max_states=3, eviction_policy="lru")
    config = StoreConfig(url=sqlite_url, index_dir=tmp_path / "source-indexes", capacity=capacity)
    with (
        ExperienceStore.open(config, embedder=embedder) as store,
        store.open_sibling("default~q2", internal=True) as second,
    ):
        fill(store)
        fill(second)
    with opened(sqlite_url) as db:
        yield db


@pytest.fixture
def target(db_url: str) -> Iterator[Database]:
    with opened(db_url) as db:
        yield db


def contents(db: Database, embedder, namespace: str = "default") -> tuple:
    """What a namespace holds, without ids: states with actions, evictions, and a retrieval's similarities."""
    config = StoreConfig(
        url=db.url.render_as_string(hide_password=False), namespace=namespace, persist_index=False
    )
    with ExperienceStore.open(config, embedder=embedder, create=False) as store:
        states = [(r.task, r.observation, r.visits, r.actions, r.updated_at) for r in store.records()]
        evictions = [(e.kind, e.observation, e.created_at) for e in store.evictions()]
        hits = [
            (h.experience.observation, round(h.similarity, 6)) for h in store.top_k(TASK, "A book cart.", k=3)
        ]
        capacity = (store.namespace.max_states, store.namespace.eviction_policy)
    return states, evictions, hits, capacity


def test_copy_moves_states_embeddings_actions_and_evictions_verbatim(source, target, embedder):
    copied = copy_namespaces(source, target, ["default", "default~q2"])
    assert [(c.name, c.states, c.evictions, c.replaced) for c in copied] == [
        ("default", 3, 1, None),
        ("default~q2", 3, 1, None),
    ]
    assert contents(target, embedder) == contents(source, embedder)
    assert contents(target, embedder, "default~q2") == contents(source, embedder, "default~q2")
    [row, _] = audit_log(target)
    assert (row.command, row.namespace, row.what, row.old_value) == ("copy", "default~q2", "namespace", None)
    assert row.new_value["from"] == source.display_url and row.new_value["states"] == 3
    assert audit_log(source) == []


def test_copying_back_from_the_target_gives_the_same_memory(source, target, embedder, tmp_path):
    copy_namespaces(source, target, ["default"])
    with opened(f"sqlite:///{tmp_path / 'back.db'}") as back:
        copy_namespaces(target, back, ["default"])
        assert contents(back, embedder) == contents(source, embedder)


def test_a_non_empty_target_namespace_is_refused_unless_replaced(source, target, embedder):
    copy_namespaces(source, target, ["default"])
    with pytest.raises(InvalidArgument, match="already holds 3 states.*--replace"):
        copy_namespaces(source, target, ["default~q2", "default"])
    # All or nothing: the second table was not copied either.
    with pytest.raises(UnknownNamespace):
        contents(target, embedder, "default~q2")
    [replaced] = copy_namespaces(source, target, ["default"], replace=True)
    assert replaced.replaced == 3
    assert contents(target, embedder) == contents(source, embedder)
    assert audit_log(target)[0].old_value == {"states": 3}


def test_an_empty_target_namespace_of_another_model_is_refused(source, target, embedder):
    open_namespace(target, "default", "another-model", 8)
    with pytest.raises(EmbeddingMismatch, match="'another-model' \\(8-d\\).*--replace"):
        copy_namespaces(source, target, ["default"])
    copy_namespaces(source, target, ["default"], replace=True)
    assert len(contents(target, embedder)[0]) == len(STATES) - 1


def test_copying_into_the_same_database_or_from_a_missing_namespace_is_refused(source, target):
    with opened(source.url.render_as_string(hide_password=False)) as same:
        with pytest.raises(InvalidArgument, match="same database"):
            copy_namespaces(source, same, ["default"])
    with pytest.raises(UnknownNamespace, match="'nope'"):
        copy_namespaces(source, target, ["nope"])
