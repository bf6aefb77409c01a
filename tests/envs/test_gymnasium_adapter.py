"""The gymnasium adapter: the module docstring's example, the contract, and each setting."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import gymnasium as gym
import pytest

import envs.gymnasium_adapter
from envs import InvalidAction
from envs.checker import check_env
from envs.gymnasium_adapter import GymnasiumText

MOVES = ("left", "down", "right", "up")


class Counter(gym.Env):
    """Count from 0 to 3 by steps of -1, 0 or +1 (actions -1..1): 3 pays 1 and ends, 5 steps truncate."""

    observation_space = gym.spaces.Discrete(10)
    action_space = gym.spaces.Discrete(3, start=-1)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.count, self.steps = 0, 0
        return self.count, {"start": "zero"}

    def step(self, action: int):
        self.count, self.steps = self.count + int(action), self.steps + 1
        return self.count, float(self.count == 3), self.count == 3, self.steps >= 5, {"steps": self.steps}


def counter(**settings: Any) -> GymnasiumText:
    """The counter with `add -1`, `add 0`, `add 1` and a fixed task."""
    words = {"observation_text": lambda n: f"The count is {n}.", "action_text": lambda a: f"add {a}"}
    return GymnasiumText(Counter(), **{"task": "Count to 3.", **words, **settings})


def lake(**settings: Any) -> GymnasiumText:
    """The classic 4x4 FrozenLake."""
    return GymnasiumText(
        gym.make("FrozenLake-v1", is_slippery=False),
        observation_text=lambda cell: f"You are on cell {int(cell)}.",
        action_text=lambda index: f"go {MOVES[index]}",
        task="Reach cell 15.",
        **settings,
    )


def test_the_docstring_example_runs_and_keeps_the_contract():
    [code] = re.findall(r"::\n\n(.*)", envs.gymnasium_adapter.__doc__, re.S)
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(code), namespace)
    env = namespace["cliff"]("60")
    assert check_env(env, episodes=5, max_steps=100)["episodes"] == 5
    first = env.reset(seed=0)
    assert first.text == "You are at row 4, column 1." and first.available_actions[0] == "move up"
    results = [env.step(a) for a in ["move up"] + ["move right"] * 11 + ["move down"]]
    assert results[-1].terminated and results[-1].info["success"] and results[-1].reward == -1.0
    short = namespace["cliff"]("2")
    short.reset(seed=0)
    ended = [short.step("move up") for _ in range(2)][-1]
    assert ended.truncated and not ended.terminated and not ended.info["success"]


def test_frozenlake_keeps_the_contract_and_succeeds_on_a_positive_reward():
    env = lake()
    assert check_env(env, episodes=20)["episodes"] == 20
    env.reset(seed=0)
    path = ["down", "down", "right", "right", "down", "right"]
    results = [env.step(f"go {move}") for move in path]
    assert [r.reward for r in results] == [0.0] * 5 + [1.0] and all(type(r.reward) is float for r in results)
    assert results[-1].terminated and results[-1].info["success"]
    with pytest.raises(InvalidAction, match="episode is over"):
        env.step("go up")
    env.reset(seed=0)
    fell = [env.step("go down"), env.step("go right")][-1]
    assert fell.terminated and not fell.info["success"]


def test_discrete_spaces_that_start_elsewhere_are_numbered_from_their_start():
    env = counter()
    assert check_env(env, episodes=10)["episodes"] == 10
    first = env.reset(seed=0)
    assert first.available_actions == ("add -1", "add 0", "add 1")
    assert [env.step("add 1").observation.text for _ in range(3)][-1] == "The count is 3."


def test_the_task_may_be_a_function_of_the_reset():
    seen = []

    def task(observation: int, info: dict) -> str:
        seen.append((observation, info))
        return f"Count to 3 from {info['start']}."

    env = counter(task=task)
    first = env.reset(seed=0)
    assert first.task == "Count to 3 from zero." == env.step("add 1").observation.task
    assert seen == [(0, {"start": "zero"})]
    env.reset(seed=1)
    assert len(seen) == 2


def test_admissible_indices_narrow_the_actions_and_the_rest_are_refused():
    def admissible(cell: int, info: dict) -> list[int]:
        row, col = divmod(int(cell), 4)
        return [i for i, ok in enumerate([col > 0, row < 3, col < 3, row > 0]) if ok]

    env = lake(admissible=admissible)
    first = env.reset(seed=0)
    assert first.available_actions == ("go down", "go right")
    with pytest.raises(InvalidAction, match="not one of the admissible actions"):
        env.step("go left")
    assert env.step("go right").observation.available_actions == ("go left", "go down", "go right")
    assert check_env(env, episodes=10)["episodes"] == 10
    broken = lake(admissible=lambda cell, info: [4])
    with pytest.raises(ValueError, match=r"admissible gave actions \[4\] outside the action space"):
        broken.reset(seed=0)


def test_success_is_the_predicate_on_terminating_steps_only():
    calls = []

    def success(observation: int, reward: float, info: dict) -> bool:
        calls.append((observation, reward, info["steps"]))
        return True

    env = counter(success=success)
    env.reset(seed=0)
    assert not env.step("add 1").info["success"] and calls == []
    env.step("add 1")
    assert env.step("add 1").info["success"] and calls == [(3, 1.0, 3)]
    env.reset(seed=0)
    ended = [env.step("add 0") for _ in range(5)][-1]
    assert ended.truncated and not ended.info["success"]
    with pytest.raises(InvalidAction, match="episode is over"):
        env.step("add 0")


def test_spec_determinism_and_retrieval_text_are_settable():
    env = lake(spec="mine:lake", deterministic=True, retrieval_text="observation")
    assert (env.spec, env.deterministic, env.retrieval_text) == ("mine:lake", True, "observation")
    assert (lake().spec, lake().deterministic, lake().retrieval_text) == ("", False, "task+observation")
    with pytest.raises(ValueError, match="retrieval_text is one of"):
        lake(retrieval_text="task")


def test_other_action_spaces_and_clashing_action_texts_are_refused():
    class Continuous(Counter):
        action_space = gym.spaces.Box(-1.0, 1.0, (1,))

    with pytest.raises(ValueError, match=r"takes an environment with a Discrete action space, got Box"):
        GymnasiumText(Continuous(), observation_text=str, action_text=str, task="Count.")
    with pytest.raises(ValueError, match="distinct non-empty text"):
        counter(action_text=lambda a: "add")
