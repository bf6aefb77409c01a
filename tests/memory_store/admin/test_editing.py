"""Changes by hand: one Q value, one state, pruning, whole namespaces; each leaves audit rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from memory_store import ExperienceStore, StoreConfig
from memory_store.admin.audit import audit_log
from memory_store.admin.editing import delete_namespaces, delete_state, open_for_editing, prune, set_q
from memory_store.admin.inspection import namespace_stats
from memory_store.db.models import ActionValue, Experience, utcnow
from memory_store.db.namespaces import get_namespace
from memory_store.errors import InvalidArgument, NotFound, UnknownNamespace
from memory_store.store import open_database
from tests.memory_store.filling import STATES, TASK, fill


@pytest.fixture
def config(db_url: str, index_dir: Path) -> StoreConfig:
    return StoreConfig(url=db_url, index_dir=index_dir)


@pytest.fixture
def store(config, embedder):
    """A store holding STATES."""
    with ExperienceStore.open(config, embedder=embedder) as opened:
        fill(opened)
        yield opened


def editing(store: ExperienceStore) -> ExperienceStore:
    """A store for edits on the same namespace and database, without an embedding model."""
    return open_for_editing(store.db, get_namespace(store.db, store.namespace.name), store.config.index_dir)


def test_edit_sets_one_q_and_writes_an_audit_row(store):
    state = store.get(TASK, "The reading room is quiet.")
    with editing(store) as editor:
        assert set_q(editor, state.id, "shout", 0.25) == -1.0
    after = store.get(TASK, "The reading room is quiet.")
    assert after.action("shout").q == 0.25
    # Only what was asked changed.
    assert after.action("read") == state.action("read")
    assert (after.visits, after.action("shout").visits) == (state.visits, state.action("shout").visits)
    [row] = audit_log(store.db)
    assert (row.command, row.namespace, row.state_id, row.action, row.what) == (
        "edit",
        "default",
        state.id,
        "shout",
        "q",
    )
    assert (row.old_value, row.new_value) == (-1.0, 0.25)


def test_edit_refuses_unknown_states_and_actions_and_writes_nothing(store):
    state = store.get(TASK, "The reading room is quiet.")
    with editing(store) as editor:
        with pytest.raises(NotFound, match="no state with id 9999 in namespace 'default'"):
            set_q(editor, 9999, "read", 1.0)
        with pytest.raises(NotFound, match=r"has no action 'dance' \(its actions: 'read', 'shout'\)"):
            set_q(editor, state.id, "dance", 1.0)
        with pytest.raises(InvalidArgument, match="finite"):
            set_q(editor, state.id, "read", float("nan"))
    assert store.get(TASK, "The reading room is quiet.") == state
    assert audit_log(store.db) == []


def test_delete_removes_the_state_from_database_and_retrieval(store):
    state = store.get(TASK, "The archive door is locked.")
    assert store.top_k(TASK, "The archive door is locked.", k=1)[0].experience.id == state.id
    with editing(store) as editor:
        assert delete_state(editor, state.id).observation == state.observation
        with pytest.raises(NotFound):
            delete_state(editor, state.id)
    assert store.get(TASK, "The archive door is locked.") is None
    assert state.id not in {
        hit.experience.id for hit in store.top_k(TASK, "The archive door is locked.", k=4)
    }
    [row] = audit_log(store.db)
    assert (row.command, row.what, row.state_id, row.new_value) == ("delete", "state", state.id, None)
    assert row.old_value["observation"] == "The archive door is locked."
    assert {a["action"]: a["q"] for a in row.old_value["actions"]} == {"force the door": -1.0, "knock": 0.0}


def test_prune_by_visits_and_age_audits_each_state(store):
    with store.db.write_engine.begin() as connection:
        connection.execute(
            update(Experience)
            .where(Experience.observation == "The ferns look dry.")
            .values(updated_at=utcnow() - timedelta(days=40))
        )
    with editing(store) as editor:
        with pytest.raises(InvalidArgument, match="needs a condition"):
            prune(editor)
        # Both conditions must hold: rarely visited AND old.
        gone = prune(editor, min_visits=3, older_than=timedelta(days=30))
        assert [r.observation for r in gone] == ["The ferns look dry."]
        gone = prune(editor, min_visits=3)
    assert {r.observation for r in gone} == {"A cart full of returned books.", "The archive door is locked."}
    assert [r.observation for r in store.records()] == ["The reading room is quiet."]
    rows = audit_log(store.db)
    assert len(rows) == 3
    assert {r.command for r in rows} == {"prune --min-visits 3 --older-than 30", "prune --min-visits 3"}
    assert {r.old_value["observation"] for r in rows} == set(STATES) - {"The reading room is quiet."}


def test_delete_namespaces_removes_everything_and_its_index_files(config, embedder, index_dir):
    with (
        ExperienceStore.open(config, embedder=embedder) as store,
        store.open_sibling("default~q2", internal=True) as second,
    ):
        fill(store)
        fill(second)
    assert len(list(index_dir.iterdir())) == 4
    db = open_database(config.url)
    try:
        with pytest.raises(UnknownNamespace):
            delete_namespaces(db, ["default", "missing"], index_dir)
        assert namespace_stats(db, "default").states == 4
        deleted = delete_namespaces(db, ["default", "default~q2"], index_dir)
        assert [(d.name, d.states, d.actions) for d in deleted] == [("default", 4, 6), ("default~q2", 4, 6)]
        assert list(index_dir.iterdir()) == []
        with pytest.raises(UnknownNamespace):
            get_namespace(db, "default")
        with db.read() as session:
            assert session.scalar(select(func.count()).select_from(Experience)) == 0
            assert session.scalar(select(func.count()).select_from(ActionValue)) == 0
        rows = audit_log(db)
    finally:
        db.close()
    assert [(r.command, r.namespace, r.what) for r in rows] == [
        ("delete-namespace", "default~q2", "namespace"),
        ("delete-namespace", "default", "namespace"),
    ]
    assert rows[1].old_value == {
        "embedding_model": "all-MiniLM-L6-v2",
        "embedding_dim": 384,
        "states": 4,
        "actions": 6,
    }
    # A namespace of the same name starts empty, and the audit log keeps the old one's rows.
    with ExperienceStore.open(config, embedder=embedder) as fresh:
        assert len(fresh) == 0
        assert len(audit_log(fresh.db, "default")) == 1
