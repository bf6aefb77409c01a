"""Values for deciding: the situation's own states first, the most similar only when it is unmet.

The stored states are real FrozenLake cells embedded by MiniLM, where neighbouring cells of one
map read almost alike (cosine above 0.99).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from envs import Observation, make_env
from memory_store import ExperienceStore, StoreConfig, Update
from rlem.learning.double_q import retrieve, same_situation
from rlem.policies.backends.baselines import MemoryGreedyPolicy
from rlem.policies.base import Situation, check_policy
from rlem.policies.values import action_values


def cells(spec: str, moves: list[str], seed: int = 0) -> list[Observation]:
    """The observations met on `spec` from its start, one per move taken (and the start)."""
    env = make_env(spec)
    seen = [env.reset(seed=seed)]
    for move in moves:
        seen.append(env.step(move).observation)
    env.close()
    return seen


def store_at(tmp_path: Path, retrieval_text: str = "task+observation", name: str = "m") -> ExperienceStore:
    """A fresh SQLite store (one file per name)."""
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    return ExperienceStore.open(StoreConfig(url=url, namespace="fl", retrieval_text=retrieval_text))


def teach(store: ExperienceStore, seen: Observation, values: dict[str, float], visits: int = 1) -> None:
    """Store `values` for the actions of one state, each updated `visits` times."""
    store.apply(
        [
            Update(seen.task, seen.text, action, q, 0.0, seen.available_actions)
            for action, q in values.items()
            for _ in range(visits)
        ]
    )


def decide(store: ExperienceStore, seen: Observation, k: int = 8) -> tuple[str, Situation]:
    """Memory-greedy's evaluation decision at `seen`, with the agent's retrieval and values."""
    hits = tuple(retrieve(store, None, seen.task, seen.text, k))
    values = action_values(same_situation(store, None, seen.task, seen.text), hits)
    situation = Situation(seen.task, seen.text, seen.available_actions, hits, values=values)
    (decision,) = check_policy(MemoryGreedyPolicy(seed=0), [situation])
    return decision.action, situation


def test_the_decision_at_a_cell_follows_its_own_values_not_its_neighbours(tmp_path: Path):
    # Row 1, column 2 and row 1, column 3 of the classic map: neighbours that MiniLM reads as near
    # duplicates, each with the opposite best move; the neighbour was visited far more.
    here, there = cells("frozenlake:4x4", ["move right", "move right"])[1:]
    with store_at(tmp_path) as store:
        teach(store, here, {"move right": 0.6, "move left": 0.4, "move down": 0.0, "move up": 0.0})
        teach(store, there, {"move right": 0.0, "move left": 1.0, "move down": 0.0, "move up": 0.0}, 5)
        action, situation = decide(store, here)
        assert min(hit.similarity for hit in situation.retrieved) > 0.99
        assert (situation.values.basis, situation.values.states) == ("same", 1)
        assert action == "move right"
        assert decide(store, there)[0] == "move left"


def test_a_move_tried_next_door_is_still_untried_here(tmp_path: Path):
    here, there = cells("frozenlake:4x4", ["move right", "move right"])[1:]
    with store_at(tmp_path) as store:
        teach(store, here, {"move left": 0.5})
        teach(store, there, {"move right": 0.0, "move down": 0.0, "move up": 0.0})
        values = decide(store, here)[1].values
        assert values.untried(here.available_actions) == ["move down", "move right", "move up"]
        assert values.visits == {"move left": 1}


def test_the_same_surroundings_on_other_maps_pool_their_visits_however_many_are_retrieved(tmp_path: Path):
    # Random maps, matched on the observation alone: the same cell with the same surroundings on
    # two maps is one situation, so their values are the mean over all their updates, even when
    # only one of the states is among the retrieved ones.
    first = cells("frozenlake:4x4:random", [], seed=0)[0]
    other = next(
        seen
        for seed in range(1, 200)
        if (seen := cells("frozenlake:4x4:random", [], seed=seed)[0]).text == first.text
        and seen.task != first.task
    )
    with store_at(tmp_path, "observation") as store:
        teach(store, first, {"move down": 1.0}, visits=3)
        teach(store, other, {"move down": 0.0, "move right": 0.2})
        values = decide(store, first, k=1)[1].values
        assert (values.basis, values.states) == ("same", 2)
        assert values.q == pytest.approx({"move down": 0.75, "move right": 0.2})
        assert values.visits == {"move down": 4, "move right": 1}


def test_an_unmet_situation_takes_the_most_similar_state_and_those_within_the_margin(tmp_path: Path):
    start, right, far = cells("frozenlake:4x4", ["move right", "move right"])
    with store_at(tmp_path) as store:
        teach(store, right, {"move up": 1.0})
        teach(store, far, {"move up": 0.0, "move left": 1.0})
        hits = retrieve(store, None, start.task, start.text, 8)
        assert same_situation(store, None, start.task, start.text) == []
        nearest = action_values([], hits)
        assert (nearest.basis, nearest.states) == ("nearest", 1)
        gap = hits[0].similarity - hits[1].similarity
        wide = action_values([], hits, margin=gap + 1e-6)
        assert (wide.basis, wide.states) == ("nearest", 2)
        assert wide.q == pytest.approx({"move up": 0.5, "move left": 1.0})


def test_no_memory_means_no_values(tmp_path: Path):
    start = cells("frozenlake:4x4", [])[0]
    with store_at(tmp_path) as store:
        values = decide(store, start)[1].values
    assert (values.basis, values.q, values.untried(["a"])) == ("none", {}, ["a"])
