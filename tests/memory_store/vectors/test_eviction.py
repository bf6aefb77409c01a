"""Capacity limits: the paper's similarity-based policy, least-recently-updated, action pruning, the log."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memory_store import Capacity, ExperienceStore, StoreConfig, Update
from memory_store.vectors.eviction import NearestPairs

TASK = "Describe what you see."


def brute_pair(ids: list[int], vectors: np.ndarray) -> float:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return float(sims.max())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2**31)), min_size=1, max_size=40))
def test_nearest_pairs_match_brute_force_through_adds_and_removes(steps):
    rng = np.random.default_rng(0)
    pairs = NearestPairs(8)
    held: dict[int, np.ndarray] = {}
    next_id = 0
    for add, seed in steps:
        if add or not held:
            count = 1 + seed % 3
            vectors = np.random.default_rng(seed).standard_normal((count, 8)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ids = np.arange(next_id, next_id + count)
            next_id += count
            pairs.add(ids, vectors)
            held.update(zip(ids.tolist(), vectors, strict=True))
        else:
            victim = sorted(held)[seed % len(held)]
            pairs.remove(np.array([victim]))
            del held[victim]
        assert pairs.ids().tolist() == sorted(held)
        closest = pairs.closest_pair()
        if len(held) < 2:
            assert closest is None
        else:
            ids = sorted(held)
            assert closest[0] == pytest.approx(brute_pair(ids, np.stack([held[i] for i in ids])), abs=1e-5)
    probe = rng.standard_normal(8).astype(np.float32)
    if held:
        expected = max(float(v @ probe) for v in held.values())
        assert pairs.best_similarity(probe) == pytest.approx(expected, abs=1e-5)


def visit(store: ExperienceStore, observation: str, action: str = "look", reward: float = 1.0):
    return store.apply([Update(TASK, observation, action, target=reward, reward=reward)])[0]


APPLE = "A red apple lies on the kitchen table."
APPLE_TOO = "On the kitchen table lies a red apple."
PHYSICS = "A lecture on quantum chromodynamics fills the blackboard."
STOCKS = "Stock prices crashed in October of 1929."


@pytest.mark.slow
def test_the_paper_policy_evicts_from_the_closest_pair_and_refuses_near_duplicates(
    db_url, index_dir, embedder
):
    config = StoreConfig(url=db_url, index_dir=index_dir, capacity=Capacity(max_states=3))
    with ExperienceStore.open(config, embedder=embedder) as store:
        visit(store, APPLE)
        visit(store, APPLE, "eat")
        visit(store, APPLE_TOO)
        visit(store, PHYSICS)
        # Full. STOCKS is unlike everything: one of the two apples (the one with more samples) goes.
        outcome = visit(store, STOCKS)
        assert outcome.status == "updated"
        assert store.get(TASK, APPLE) is None
        assert outcome.evicted_state_id is not None
        assert len(store) == 3
        # An observation closer to a stored state than the closest stored pair is refused.
        refused = visit(store, PHYSICS + " ")
        assert refused.status == "rejected"
        assert len(store) == 3
        assert {hit.experience.observation for hit in store.top_k(TASK, APPLE, k=5)} == {
            APPLE_TOO,
            PHYSICS,
            STOCKS,
        }
        log = store.evictions()
    assert [(e.kind, e.policy) for e in log] == [("state", "paper"), ("rejected", "paper")]
    assert log[0].observation == APPLE
    assert log[1].observation == PHYSICS + " "


def test_least_recently_updated_is_evicted_under_lru(db_url, index_dir, embedder):
    capacity = Capacity(max_states=2, eviction_policy="lru")
    with ExperienceStore.open(
        StoreConfig(url=db_url, index_dir=index_dir, capacity=capacity), embedder=embedder
    ) as store:
        visit(store, APPLE)
        visit(store, PHYSICS)
        visit(store, APPLE)
        outcome = visit(store, STOCKS)
        assert store.get(TASK, PHYSICS) is None
        assert outcome.evicted_state_id is not None
        assert {hit.experience.observation for hit in store.top_k(TASK, PHYSICS, k=5)} == {APPLE, STOCKS}
        assert [e.kind for e in store.evictions()] == ["state"]


def test_over_capacity_actions_lose_the_lowest_reward(db_url, index_dir, embedder):
    config = StoreConfig(url=db_url, index_dir=index_dir, capacity=Capacity(max_actions=2))
    with ExperienceStore.open(config, embedder=embedder) as store:
        visit(store, APPLE, "eat", 1.0)
        visit(store, APPLE, "throw", -1.0)
        outcome = visit(store, APPLE, "polish", 0.5)
        assert outcome.evicted_action == "throw"
        assert sorted(a.action for a in store.get(TASK, APPLE).actions) == ["eat", "polish"]
        (entry,) = store.evictions()
    assert (entry.kind, entry.action) == ("action", "throw")


def test_capacity_can_be_set_on_an_existing_namespace(db_url, index_dir, embedder):
    with ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=embedder) as store:
        for observation in (APPLE, PHYSICS, STOCKS):
            visit(store, observation)
        store.set_capacity(Capacity(max_states=3, eviction_policy="lru"))
        visit(store, APPLE_TOO)
        assert len(store) == 3
        assert store.get(TASK, APPLE) is None
