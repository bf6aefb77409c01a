"""Value iteration on FrozenLake's own transition table, checked by playing its greedy policy."""

from __future__ import annotations

import numpy as np
import pytest

from envs import make_env
from envs.value_iteration import best_within, value_iteration


def play(env, policy: np.ndarray, episodes: int, seed: int) -> float:
    """Success rate of a fixed state -> action policy through the text interface."""
    wins = 0
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        while True:
            result = env.step(env.actions[int(policy[int(env.state)])])
            if result.terminated or result.truncated:
                wins += result.info["success"]
                break
    return wins / episodes


def test_the_non_slippery_lake_is_solved_with_certainty():
    env = make_env("frozenlake:4x4")
    optimum = value_iteration(env.env.unwrapped.P)
    assert optimum.values[0] == pytest.approx(1.0)
    assert play(env, optimum.policy, episodes=5, seed=0) == 1.0


@pytest.mark.slow
def test_the_slippery_optimum_matches_playing_its_policy():
    env = make_env("frozenlake:4x4:slippery:1000")
    optimum = value_iteration(env.env.unwrapped.P)
    assert 0.80 < optimum.values[0] < 0.85
    assert play(env, optimum.policy, episodes=3000, seed=0) == pytest.approx(optimum.values[0], abs=0.03)


def test_success_within_a_step_limit_grows_to_the_unlimited_optimum():
    env = make_env("frozenlake:4x4:slippery")
    env.reset(seed=0)
    transitions = env.env.unwrapped.P
    unlimited = value_iteration(transitions).values
    short, longer, endless = (best_within(transitions, steps)[0] for steps in (6, 20, 5000))
    # The goal is six moves away: with six steps only perfect luck arrives.
    assert 0 < short < longer < endless
    assert endless == pytest.approx(unlimited[0], abs=1e-6)
    env.close()


def test_the_best_return_within_the_limit_walks_the_cliffs_edge_and_drives_the_shortest_route():
    cliff = make_env("cliffwalking")
    cliff.reset(seed=0)
    # Thirteen steps along the cliff's edge at a cost of 1 each; two steps are too few to arrive.
    assert best_within(cliff.env.unwrapped.P, 200)[cliff.state] == pytest.approx(-13.0)
    assert best_within(cliff.env.unwrapped.P, 2)[cliff.state] == pytest.approx(-2.0)
    cliff.close()
    taxi = make_env("taxi")
    for seed in range(3):
        taxi.reset(seed=seed)
        best = best_within(taxi.env.unwrapped.P, 200)[taxi.state]
        policy, total, done = value_iteration(taxi.env.unwrapped.P).policy, 0.0, False
        while not done:
            result = taxi.step(taxi.actions[int(policy[int(taxi.state)])])
            total, done = total + result.reward, result.terminated or result.truncated
        # Delivering earns 20; every move, the pickup and the dropoff cost 1 each.
        assert result.info["success"] and total == best and 0 < best < 20
    taxi.close()
