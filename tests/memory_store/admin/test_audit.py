"""The audit log: rows commit with their change or not at all, and list newest first, by namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_store import ExperienceStore, StoreConfig
from memory_store.admin.audit import audit_log
from memory_store.admin.editing import delete_state, open_for_editing, set_q
from memory_store.db.namespaces import get_namespace
from tests.memory_store.filling import TASK, fill


@pytest.fixture
def store(db_url: str, embedder, index_dir: Path):
    with ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=embedder) as opened:
        fill(opened)
        with opened.open_sibling("other") as other:
            fill(other)
        yield opened


def edit_all(store: ExperienceStore, namespace: str, q: float) -> None:
    """Set Q of every action of every state of a namespace."""
    with open_for_editing(store.db, get_namespace(store.db, namespace)) as editor:
        for record in editor.records():
            for action in record.actions:
                set_q(editor, record.id, action.action, q)


@pytest.mark.slow
def test_the_log_lists_newest_first_by_namespace_and_limit(store):
    edit_all(store, "default", 1.0)
    edit_all(store, "other", 2.0)
    everything = audit_log(store.db, limit=100)
    assert len(everything) == 12
    assert [r.id for r in everything] == sorted((r.id for r in everything), reverse=True)
    assert all(b.at <= a.at for a, b in zip(everything, everything[1:], strict=False))
    assert {r.new_value for r in audit_log(store.db, "default", limit=100)} == {1.0}
    newest = audit_log(store.db, "default", limit=2)
    assert [r.id for r in newest] == [r.id for r in everything if r.namespace == "default"][:2]
    assert audit_log(store.db, "nowhere") == []


def test_a_change_and_its_audit_row_commit_together_or_not_at_all(store, monkeypatch):
    state = store.get(TASK, "The reading room is quiet.")

    def broken(*args, **kwargs) -> None:
        raise RuntimeError("the audit row cannot be written")

    monkeypatch.setattr("memory_store.admin.audit.record", broken)
    with open_for_editing(store.db, get_namespace(store.db, "default")) as editor:
        with pytest.raises(RuntimeError, match="audit row"):
            delete_state(editor, state.id)
        with pytest.raises(RuntimeError, match="audit row"):
            set_q(editor, state.id, "read", 5.0)
    assert store.get(TASK, "The reading room is quiet.") == state
    assert len(store) == 4
    assert store.top_k(TASK, "The reading room is quiet.", k=1)[0].experience.id == state.id
    assert audit_log(store.db) == []
