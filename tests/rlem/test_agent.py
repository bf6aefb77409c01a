"""The agent's own exploration: random decisions while training, never while evaluating."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from envs import make_env
from rlem.agent import Agent, Finished, Job
from rlem.exemplars import ExemplarConfig
from rlem.metrics import episode_record
from rlem.policies.base import Decision, Policy, Situation
from rlem.qlearning import Rule


class FirstAction(Policy):
    """The first admissible action in `order` (default: as offered); counts the situations asked."""

    name = "first"

    def __init__(self, order: Sequence[str] = ()) -> None:
        self.asked, self.order = 0, list(order)

    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        self.asked += len(situations)
        rank = {action: i for i, action in enumerate(self.order)}
        return [
            Decision(min(s.available_actions, key=lambda a: rank.get(a, len(rank))), "first")
            for s in situations
        ]


def episodes(
    spec: str, jobs: list[Job], explore: float = 0.0, order: Sequence[str] = ()
) -> tuple[FirstAction, list[Finished]]:
    """Run `jobs` on `spec` with a memoryless agent around FirstAction."""
    policy = FirstAction(order)
    agent = Agent(
        policy, None, None, None, Rule(), ExemplarConfig(k=0, token_budget=100), None, None,
        np.random.default_rng(0), explore,
    )  # fmt: skip
    finished: list[Finished] = []
    env = make_env(spec)
    agent.run(jobs, [env], finished.append)
    env.close()
    return policy, finished


def play(explore: float, training: bool) -> tuple[FirstAction, list[Decision]]:
    jobs = [Job(f"j{seed}", seed, training) for seed in range(6)]
    policy, finished = episodes("frozenlake:4x4:random:50", jobs, explore)
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


def test_an_action_that_changed_nothing_is_not_offered_again_at_once():
    # The fixed 4x4 map from the top-left corner: "move left" walks into the edge, "move down"
    # moves, and after two moves down the third ends in the hole at row 4.
    _, finished = episodes("frozenlake:4x4", [Job("j", 0, False)])
    assert [d.action for d in finished[0].decisions] == ["move left", "move down"] * 3
    assert [len(s.available_actions) for s in finished[0].log.steps] == [4] * 6


def test_no_action_that_already_changed_nothing_here_is_offered_here_again():
    # From the top-left corner, left and up both walk into the edge: a policy that prefers them
    # would alternate them forever if only the last action were held back.
    order = ["move left", "move up", "move right", "move down"]
    _, finished = episodes("frozenlake:4x4", [Job("j", 0, False)], order=order)
    # Back in the corner at the fifth step, both edge moves are still held back.
    assert [d.action for d in finished[0].decisions][:5] == [*order[:3], "move left", "move right"]


def test_on_slippery_ice_the_same_action_may_be_repeated():
    # Sliding makes outcomes random, and pushing against a wall is often the safe move there.
    _, finished = episodes("frozenlake:4x4:slippery:30", [Job(f"j{seed}", seed, False) for seed in range(3)])
    assert {d.action for f in finished for d in f.decisions} == {"move left"}
    assert sum(len(f.decisions) for f in finished) > 3


def test_max_steps_ends_episodes_before_the_environments_own_limit():
    policy = FirstAction()
    agent = Agent(
        policy, None, None, None, Rule(), ExemplarConfig(k=0, token_budget=100), None, None,
        np.random.default_rng(0), 0.0, max_steps=3,
    )  # fmt: skip
    finished: list[Finished] = []
    env = make_env("frozenlake:4x4:slippery:30")
    agent.run([Job(f"j{seed}", seed, False) for seed in range(3)], [env], finished.append)
    env.close()
    # Pushing left against the edge on slippery ice lasts, so only the cap ends these episodes early.
    assert [len(f.decisions) for f in finished] == [3, 3, 3]


def test_exploring_draws_stay_out_of_the_policys_latency_and_advice_statistics():
    _, finished = episodes("frozenlake:4x4:random:50", [Job("j", 0, True)], explore=1.0)
    assert all(d.explored for d in finished[0].decisions)
    record = episode_record(finished[0], 1, None)
    assert record["decision_latency_s"] is None and record["advice_offered"] == 0
    _, finished = episodes("frozenlake:4x4:random:50", [Job("j", 0, False)], explore=1.0)
    assert episode_record(finished[0], 1, None)["decision_latency_s"] == 0.0
