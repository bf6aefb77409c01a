"""FrozenLake in words: the contract checker over every variant, the text, random maps, success."""

from __future__ import annotations

import pytest

from envs import InvalidAction, make_env
from envs.checker import check_env
from envs.registry import UnknownEnvironment

SPECS = [
    "frozenlake:4x4",
    "frozenlake:8x8",
    "frozenlake:4x4:slippery",
    "frozenlake:8x8:slippery",
    "frozenlake:4x4:random",
    "frozenlake:8x8:random",
    "frozenlake:4x4:slippery:random:30",
]


@pytest.mark.parametrize("spec", SPECS)
def test_every_variant_keeps_the_contract(spec):
    env = make_env(spec)
    counts = check_env(env, episodes=30)
    env.close()
    assert counts["episodes"] == 30 and counts["steps"] >= 30


def test_the_task_holds_the_map_and_the_observation_the_surroundings():
    env = make_env("frozenlake:4x4")
    first = env.reset(seed=0)
    assert "S start" in first.task and "FHFH" in first.task
    assert first.text.startswith("You are at row 1, column 1, on the start.")
    assert "Around you: left: the edge, down: frozen ice, right: frozen ice, up: the edge." in first.text
    assert "The goal is 3 rows down and 3 columns right." in first.text
    assert first.available_actions == ("move left", "move down", "move right", "move up")
    moved = env.step("move right").observation
    assert moved.text.startswith("You are at row 1, column 2, on frozen ice.")


def test_the_known_path_reaches_the_goal_and_succeeds():
    env = make_env("frozenlake:4x4")
    env.reset(seed=0)
    path = ["move down", "move down", "move right", "move right", "move down", "move right"]
    results = [env.step(move) for move in path]
    assert [r.reward for r in results] == [0.0] * 5 + [1.0]
    assert results[-1].terminated and results[-1].info["success"]
    with pytest.raises(InvalidAction, match="episode is over"):
        env.step("move left")


def test_a_hole_ends_the_episode_without_success():
    env = make_env("frozenlake:4x4")
    env.reset(seed=0)
    env.step("move down")
    result = env.step("move right")
    assert result.terminated and not result.info["success"] and result.reward == 0.0
    assert "on a hole" in result.observation.text


def test_random_maps_follow_the_seed():
    env = make_env("frozenlake:4x4:random")
    tasks = {seed: env.reset(seed=seed).task for seed in range(6)}
    assert env.reset(seed=3).task == tasks[3]
    assert len(set(tasks.values())) > 1


def test_unknown_specs_are_refused_with_what_exists():
    with pytest.raises(
        UnknownEnvironment,
        match="unknown environment .chess.*known are "
        "blackjack, cliffwalking, frozenlake, scienceworld, taxi, textworld, or give package.module:factory",
    ):
        make_env("chess")
    with pytest.raises(UnknownEnvironment, match="bad spec 'frozenlake:5x5'"):
        make_env("frozenlake:5x5")


def test_a_step_limit_truncates():
    env = make_env("frozenlake:4x4:random:3")
    env.reset(seed=0)
    results = [env.step("move left") for _ in range(3)]
    assert results[-1].truncated and not results[-1].terminated
    assert env.spec == "frozenlake:4x4:random:3"
