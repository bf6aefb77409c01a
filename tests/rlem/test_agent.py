"""The agent's own exploration: random decisions while training, never while evaluating."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from envs import make_env
from rlem.agent import Agent, Finished, Job
from rlem.exemplars import ExemplarConfig
from rlem.policies.base import Decision, Policy, Situation
from rlem.qlearning import Rule


class FirstAction(Policy):
    """Always the first admissible action; counts the situations it was asked about."""

    name = "first"

    def __init__(self) -> None:
        self.asked = 0

    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        self.asked += len(situations)
        return [Decision(s.available_actions[0], "first") for s in situations]


def play(explore: float, training: bool) -> tuple[FirstAction, list[Decision]]:
    policy = FirstAction()
    agent = Agent(
        policy, None, None, None, Rule(), ExemplarConfig(k=0, token_budget=100), None, None,
        np.random.default_rng(0), explore,
    )  # fmt: skip
    finished: list[Finished] = []
    env = make_env("frozenlake:4x4:random:50")
    agent.run([Job(f"j{seed}", seed, training) for seed in range(6)], [env], finished.append)
    env.close()
    return policy, [d for f in finished for d in f.decisions]


def test_exploring_decisions_skip_the_policy_and_only_while_training():
    policy, decisions = play(1.0, training=True)
    assert policy.asked == 0 and {d.reason for d in decisions} == {"exploring"}
    policy, decisions = play(1.0, training=False)
    assert policy.asked == len(decisions) and {d.reason for d in decisions} == {"first"}


def test_an_explore_share_explores_about_that_share():
    policy, decisions = play(0.5, training=True)
    explored = sum(d.reason == "exploring" for d in decisions)
    assert explored + policy.asked == len(decisions)
    assert 0.25 < explored / len(decisions) < 0.75


def test_explore_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="explore"):
        play(1.5, training=True)
