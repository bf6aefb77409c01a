"""The random and memory-greedy baselines, run through the policy contract checker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memory_store import ActionRecord, ExperienceRecord, Retrieved
from rlem.policies.backends.baselines import MemoryGreedyPolicy, RandomPolicy
from rlem.policies.base import Decision, Policy, PolicyContractError, Situation, check_policy, followed_advice
from rlem.policies.values import action_values

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = ("left", "down", "right", "up")


def state(*actions: tuple[str, float], similarity: float = 0.9) -> Retrieved:
    """A retrieved state that tried these (action, Q) pairs."""
    values = tuple(ActionRecord(name, "", q, 0.0, 1) for name, q in actions)
    return Retrieved(
        similarity, ExperienceRecord(1, "t", "o", ACTIONS, "", 1, 0.0, 0.0, (), NOW, NOW, values)
    )


def situation(*retrieved: Retrieved, actions: tuple[str, ...] = ACTIONS) -> Situation:
    """A situation the memory has not met, with the values the agent draws from what it retrieved."""
    values = action_values([], retrieved)
    return Situation("Reach the goal.", "You are at the start.", actions, retrieved=retrieved, values=values)


def test_random_is_uniform_and_admissible():
    decisions = check_policy(RandomPolicy(seed=0), [situation()] * 400)
    counts = {a: sum(d.action == a for d in decisions) for a in ACTIONS}
    assert all(70 < c < 130 for c in counts.values())


def test_memory_greedy_tries_untried_actions_first_then_takes_the_best():
    policy = MemoryGreedyPolicy(seed=0)
    partly = state(("left", 0.5), ("down", 0.9))
    chosen = {check_policy(policy, [situation(partly)])[0].action for _ in range(50)}
    assert chosen == {"right", "up"}
    full = state(("left", 0.5), ("down", 0.9), ("right", 0.1), ("up", 0.0))
    assert check_policy(policy, [situation(full)])[0].action == "down"


def test_memory_greedy_pools_what_equally_similar_states_tried():
    # Neither state tried every action; together they did, and "up" is best once pooled.
    first = state(("left", 0.2), ("down", 0.4), similarity=0.9)
    second = state(("right", 0.1), ("up", 1.0), ("down", 0.0), similarity=0.9)
    decisions = check_policy(MemoryGreedyPolicy(seed=5), [situation(first, second)] * 20, training=False)
    assert {d.action for d in decisions} == {"up"}
    closer = state(("up", 0.0), similarity=0.99)
    far = state(("up", 1.0), ("left", 0.3), ("down", 0.3), ("right", 0.3), similarity=0.01)
    # Only the most similar state stands in: its untried actions come first, "up" is not one.
    decisions = check_policy(MemoryGreedyPolicy(seed=6), [situation(closer, far)] * 20)
    assert {d.action for d in decisions} == {"left", "down", "right"}


def test_memory_greedy_learns_with_step_costs_too():
    # Every action costs; the least costly is still the best.
    costs = state(("left", -5.0), ("down", -1.5), ("right", -3.0), ("up", -9.0))
    assert check_policy(MemoryGreedyPolicy(seed=1), [situation(costs)])[0].action == "down"


def test_memory_greedy_with_an_empty_memory_is_random_over_admissible():
    decisions = check_policy(MemoryGreedyPolicy(seed=3), [situation(actions=("a", "b"))] * 50)
    assert {d.action for d in decisions} == {"a", "b"}


def test_memory_greedy_ignores_stored_actions_that_are_not_admissible_now():
    other = state(("jump", 9.0), ("left", 0.1), ("down", 0.2), ("right", 0.3), ("up", 0.4))
    assert check_policy(MemoryGreedyPolicy(seed=4), [situation(other)])[0].action == "up"


def test_advice_following_is_measured_against_encouraged_actions():
    offered = Situation("t", "o", ACTIONS, encouraged=("left",))
    assert followed_advice(offered.encouraged, Decision("left")) is True
    assert followed_advice(offered.encouraged, Decision("up")) is False
    assert followed_advice(situation().encouraged, Decision("up")) is None


class Broken(Policy):
    name = "broken"

    def decide(self, situations, *, training):
        return [Decision("teleport") for _ in situations]


def test_the_checker_catches_inadmissible_actions_and_missing_decisions():
    with pytest.raises(PolicyContractError, match="chose 'teleport', not one of"):
        check_policy(Broken(), [situation()])

    class Short(Policy):
        def decide(self, situations, *, training):
            return []

    with pytest.raises(PolicyContractError, match="0 decisions for 1 situations"):
        check_policy(Short(), [situation()])
