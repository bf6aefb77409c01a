"""Read-only views of a memory: namespace summaries, statistics, filtered listings, one state."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from memory_store import Capacity, ExperienceStore, StoreConfig
from memory_store.admin.inspection import list_states, namespace_stats, namespace_summaries, show_state
from memory_store.db.models import utcnow
from memory_store.errors import InvalidArgument, NotFound, UnknownNamespace
from memory_store.store import open_database
from tests.memory_store.filling import TASK, fill


@pytest.fixture
def store(db_url: str, embedder, index_dir: Path):
    """A store holding STATES."""
    with ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=embedder) as opened:
        fill(opened)
        yield opened


def test_namespace_summaries_count_states_actions_and_files(store, index_dir: Path):
    store.save_index()
    empty = store.open_sibling("empty")
    empty.close()
    summaries = {s.name: s for s in namespace_summaries(store.db, index_dir)}
    assert set(summaries) == {"default", "empty"}
    default = summaries["default"]
    assert (default.states, default.actions) == (4, 6)
    assert (default.embedding_model, default.embedding_dim) == ("all-MiniLM-L6-v2", 384)
    assert default.db_bytes > 0 and default.index_bytes > 0
    assert default.created_at <= default.last_update <= utcnow()
    assert (summaries["empty"].states, summaries["empty"].actions) == (0, 0)
    assert 0 < summaries["empty"].index_bytes < default.index_bytes


def test_stats_give_counts_q_distribution_and_problem_states(store):
    stats = namespace_stats(store.db, "default", top=2)
    assert (stats.states, stats.actions, stats.visits) == (4, 6, 8)
    assert stats.q.count == 6
    assert (stats.q.min, stats.q.max) == (-1.0, 1.5)
    assert sum(count for _, _, count in stats.q.histogram) == 6
    assert [s.observation for s in stats.most_visited] == [
        "The reading room is quiet.",
        "A cart full of returned books.",
    ]
    assert stats.not_positive == 1
    assert [s.best_q for s in stats.not_positive_examples] == [0.0]
    assert stats.evictions == {}


def test_stats_count_evictions_by_kind(db_url, embedder, index_dir):
    config = StoreConfig(
        url=db_url, index_dir=index_dir, capacity=Capacity(max_states=2, eviction_policy="lru")
    )
    with ExperienceStore.open(config, embedder=embedder) as store:
        fill(store)
        assert namespace_stats(store.db, "default").evictions == {"state": 2}


def test_listing_filters_and_pages(store):
    everything = list_states(store.db, "default")
    assert everything.total == 4 and [s.id for s in everything.states] == sorted(
        s.id for s in everything.states
    )
    assert list_states(store.db, "default", task="GREENHOUSE").total == 1
    assert list_states(store.db, "default", task="%").total == 0
    busy = list_states(store.db, "default", min_visits=2)
    assert {s.observation for s in busy.states} == {
        "The reading room is quiet.",
        "A cart full of returned books.",
        "The archive door is locked.",
    }
    assert list_states(store.db, "default", since=utcnow() - timedelta(minutes=5)).total == 4
    assert list_states(store.db, "default", since=utcnow() + timedelta(minutes=5)).total == 0
    second = list_states(store.db, "default", offset=1, limit=2)
    assert (second.total, [s.id for s in second.states]) == (4, [s.id for s in everything.states[1:3]])
    with pytest.raises(InvalidArgument, match="paging"):
        list_states(store.db, "default", limit=0)
    with pytest.raises(UnknownNamespace, match="namespaces there: default"):
        list_states(store.db, "nope")


def test_show_gives_one_state_with_all_its_actions(store):
    state_id = store.get(TASK, "The reading room is quiet.").id
    detail = show_state(store.db, state_id)
    assert detail.namespace == "default"
    assert detail.experience.visits == 3
    assert {a.action: (a.q, a.visits) for a in detail.experience.actions} == {
        "read": (0.75, 2),
        "shout": (-1.0, 1),
    }
    with pytest.raises(NotFound, match="no state with id 9999"):
        show_state(store.db, 9999)


def test_inspection_needs_no_embedding_model(store, db_url):
    db = open_database(db_url, create=False)
    try:
        assert namespace_stats(db, "default").states == 4
    finally:
        db.close()
