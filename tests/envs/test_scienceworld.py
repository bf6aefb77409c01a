"""ScienceWorld through the JVM: the contract on a task, splits, and a clean shutdown."""

from __future__ import annotations

import pytest

from envs import make_env
from envs.checker import check_env
from envs.registry import UnknownEnvironment
from tests.envs.availability import requires

# Every test starts ScienceWorld's JVM or plays in it: seconds each.
pytestmark = [requires("scienceworld"), pytest.mark.slow]


@pytest.fixture(scope="module")
def boil():
    env = make_env("scienceworld:boil:train")
    yield env
    env.close()


def test_a_task_keeps_the_contract(boil):
    counts = check_env(boil, episodes=3, max_steps=150)
    assert counts["episodes"] == 3


def test_the_task_text_and_valid_actions(boil):
    first = boil.reset(seed=0)
    assert first.task.startswith("Your task is to boil")
    assert "look around" in first.available_actions and len(first.available_actions) > 20
    assert first.text.startswith("This room is called")


def test_seeds_pick_variations_within_the_split():
    env = make_env("scienceworld:boil:test")
    try:
        assert env.variations and set(env.variations).isdisjoint(make_env_variations("train"))
        env.reset(seed=len(env.variations) + 1)
    finally:
        env.close()


def make_env_variations(split: str) -> list[int]:
    env = make_env(f"scienceworld:boil:{split}")
    try:
        return list(env.variations)
    finally:
        env.close()


def test_unknown_tasks_and_splits_are_refused():
    with pytest.raises(UnknownEnvironment, match="unknown ScienceWorld task 'bake-bread'"):
        make_env("scienceworld:bake-bread")
    with pytest.raises(UnknownEnvironment, match="splits are train, dev, test"):
        make_env("scienceworld:boil:holdout")
