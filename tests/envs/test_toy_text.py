"""Taxi, CliffWalking and Blackjack in words: the contract checker and what the text says."""

from __future__ import annotations

import pytest

from envs import make_env
from envs.checker import check_env


@pytest.mark.parametrize("spec", ["taxi", "cliffwalking", "cliffwalking:50", "blackjack"])
def test_every_toy_text_environment_keeps_the_contract(spec):
    env = make_env(spec)
    counts = check_env(env, episodes=25, max_steps=400)
    env.close()
    assert counts["episodes"] == 25


def test_taxi_names_passenger_destination_and_taxi():
    env = make_env("taxi")
    first = env.reset(seed=0)
    assert "Drive the taxi to the passenger waiting at depot" in first.task
    assert first.text.startswith("The taxi is at row ")
    assert "wants to go to depot" in first.text
    result = env.step("drop off passenger")
    assert result.reward == -10.0 and not result.terminated
    assert result.observation.task == first.task


def test_cliffwalking_costs_and_a_fall_returns_to_the_start():
    env = make_env("cliffwalking")
    first = env.reset(seed=0)
    assert first.text.startswith("You are at row 4, column 1.")
    fall = env.step("move right")
    assert fall.reward == -100.0 and not fall.terminated
    assert fall.observation.text.startswith("You are at row 4, column 1.")
    assert env.step("move up").reward == -1.0


def test_cliffwalking_reaches_the_goal_along_the_top_safe_path():
    env = make_env("cliffwalking")
    env.reset(seed=0)
    results = [env.step(a) for a in ["move up"] + ["move right"] * 11 + ["move down"]]
    assert results[-1].terminated and results[-1].info["success"]
    assert sum(r.reward for r in results) == -13.0


def test_cliffwalking_has_a_step_limit():
    env = make_env("cliffwalking:5")
    env.reset(seed=0)
    results = [env.step("move up") for _ in range(5)]
    assert results[-1].truncated and not results[-1].info["success"]


def test_blackjack_shows_cards_and_dealer():
    env = make_env("blackjack")
    first = env.reset(seed=0)
    assert first.text.startswith("Your cards: ") and "The dealer shows" in first.text
    outcome = env.step("stick")
    assert outcome.terminated and outcome.reward in (-1.0, 0.0, 1.0)
    assert outcome.info["success"] == (outcome.reward > 0)
