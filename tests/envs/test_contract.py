"""Every built-in environment, through the example spec `rlem envs` shows for it, keeps the TextEnv
contract (envs.checker.check_env); those whose package cannot run here skip, saying why (or, with CI
set, fail: tests/envs/availability.py). The other specs of each are checked beside their own tests
(test_frozenlake.py, test_toy_text.py, ...)."""

from __future__ import annotations

import pytest

from envs import make_env
from envs.checker import check_env
from envs.registry import REGISTRY
from tests.envs.availability import requires

# Environments that start a game generator or a JVM: seconds per episode.
SLOW = {"textworld", "scienceworld"}


def example(name: str):
    """The test case of a built-in: its example spec, needing its package where it has one."""
    entry = REGISTRY[name]
    marks = [requires(entry.package)] if entry.package else []
    return pytest.param(name, id=entry.example, marks=marks + ([pytest.mark.slow] if name in SLOW else []))


@pytest.mark.usefixtures("textworld_cache")
@pytest.mark.parametrize("name", [example(name) for name in sorted(REGISTRY)])
def test_every_built_in_example_keeps_the_contract(name):
    spec = REGISTRY[name].example
    episodes = 3 if name in SLOW else 20
    env = make_env(spec)
    try:
        counts = check_env(env, episodes=episodes, max_steps=400)
    finally:
        env.close()
    assert counts["episodes"] == episodes and counts["steps"] >= episodes
    assert env.spec.split(":")[0] == name


def test_every_built_in_is_described_with_an_example_of_its_own():
    for name, entry in REGISTRY.items():
        assert entry.example.split(":")[0] == name
        assert entry.description.endswith(".") and "\n" not in entry.description
