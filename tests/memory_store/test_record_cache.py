"""Cached rows behind `nearest`: used while the namespace is unchanged, never stale after a write by
this store, another store, a hand edit or a failed transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_store import ExperienceStore, StoreConfig, Update
from memory_store.admin.editing import delete_state, set_q

TASK = "Find the key."
HALL = "You are in a hall."


def update(observation: str, action: str, target: float) -> Update:
    """An update in the test task."""
    return Update(TASK, observation, action, target=target, reward=target)


def q_seen(store: ExperienceStore, observation: str = HALL, action: str = "go north") -> float:
    """Q of an action of the state `nearest` ranks first for `observation`."""
    hit = store.top_k(TASK, observation, k=1)[0].experience
    assert hit.observation == observation
    return hit.action(action).q


@pytest.fixture
def config(db_url: str, index_dir: Path) -> StoreConfig:
    return StoreConfig(url=db_url, index_dir=index_dir)


@pytest.fixture
def store(config, embedder):
    with ExperienceStore.open(config, embedder=embedder) as opened:
        opened.apply([update(HALL, "go north", 1.0), update("A dark cellar.", "light lamp", 0.5)])
        yield opened


def test_a_repeated_query_is_answered_from_the_cache_without_a_transaction(store, monkeypatch):
    first = store.top_k(TASK, HALL, k=2)
    assert len(store.cached) == 2
    monkeypatch.setattr(store, "read", lambda work: pytest.fail("the cached query opened a transaction"))
    assert store.top_k(TASK, HALL, k=2) == first


def test_this_stores_own_update_is_seen_at_once(store):
    assert q_seen(store) == 1.0
    store.apply([update(HALL, "go north", 0.0)])
    # The changed state was read again after the commit: both are held, the hall as it is now.
    held = {entry.record.observation: entry.record for entry in store.cached.entries.values()}
    assert set(held) == {HALL, "A dark cellar."}
    assert held[HALL].action("go north").q == pytest.approx(0.5)
    assert q_seen(store) == pytest.approx(0.5)


def test_an_update_by_another_store_on_the_database_is_seen(store, config, embedder):
    assert q_seen(store) == 1.0
    with ExperienceStore.open(config, embedder=embedder) as other:
        other.apply([update(HALL, "go north", 0.0)])
    assert q_seen(store) == pytest.approx(0.5)


def test_a_hand_edit_and_a_delete_are_seen(store):
    state_id = store.top_k(TASK, HALL, k=1)[0].experience.id
    set_q(store, state_id, "go north", 7.0)
    assert q_seen(store) == 7.0
    delete_state(store, state_id)
    assert [r.experience.observation for r in store.top_k(TASK, HALL, k=2)] == ["A dark cellar."]


def test_a_transaction_that_fails_leaves_nothing_it_read_in_the_cache(store):
    q_seen(store)

    def change_then_fail(tx) -> None:
        tx.apply([update(HALL, "go north", -5.0)])
        tx.nearest(store.embed(TASK, HALL), k=2)  # reads the uncommitted value
        raise RuntimeError("the caller gave up")

    with pytest.raises(RuntimeError):
        store.transaction(change_then_fail)
    assert len(store.cached) == 0
    assert q_seen(store) == 1.0


def test_a_transaction_reads_its_own_changes_not_the_cached_rows(store):
    assert q_seen(store) == 1.0 and store.same_situation(TASK, HALL)  # both cached

    def change_then_read(tx) -> tuple[float, float]:
        tx.apply([update(HALL, "go north", 0.0)])
        same = tx.same_situation(TASK, HALL)[0]
        near = tx.nearest(store.embed(TASK, HALL), k=1)[0].experience
        return same.action("go north").q, near.action("go north").q

    assert store.transaction(change_then_read) == (pytest.approx(0.5), pytest.approx(0.5))


def test_a_situation_once_missing_is_found_after_this_or_another_store_stores_it(store, config, embedder):
    for room in ("A new room.", "Another room."):
        assert store.same_situation(TASK, room) == []
    store.apply([update("A new room.", "look", 1.0)])
    with ExperienceStore.open(config, embedder=embedder) as other:
        other.apply([update("Another room.", "look", 1.0)])
    for room in ("A new room.", "Another room."):
        assert [r.observation for r in store.same_situation(TASK, room)] == [room]
        assert store.max_q(TASK, room) == 1.0


def test_a_known_situation_is_answered_from_the_cache_without_a_transaction(store, monkeypatch):
    first = store.same_situation(TASK, HALL)
    monkeypatch.setattr(store, "read", lambda work: pytest.fail("the cached lookup opened a transaction"))
    assert store.same_situation(TASK, HALL) == first
    assert store.max_q(TASK, HALL) == 1.0


def test_a_write_transaction_that_changes_no_state_is_not_counted(store):
    before = store.peek_counters().changes
    assert store.transaction(lambda tx: tx.delete([])) == 0
    assert store.peek_counters().changes == before
    store.apply([update(HALL, "go north", 0.0)])
    assert store.peek_counters().changes == before + 1
