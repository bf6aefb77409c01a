"""Environment factories as a user's package holds them; the `plugins` fixture copies this file into
a package of its own under tmp_path, so that specs reach it by import as they would any module."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from envs.base import Observation, StepResult, TextEnv
from envs.gymnasium_adapter import GymnasiumText

MOVES = ("left", "down", "right", "up")
NOT_CALLABLE = 3
CALLS: list[tuple[str, ...]] = []


def lake(steps: str = "10", *flags: str) -> GymnasiumText:
    """The classic 4x4 FrozenLake through the adapter; records the arguments it was called with."""
    CALLS.append((steps, *flags))
    return GymnasiumText(
        gym.make("FrozenLake-v1", is_slippery=False, max_episode_steps=int(steps)),
        observation_text=lambda cell: f"You are on cell {int(cell)} of 16.",
        action_text=lambda index: f"go {MOVES[index]}",
        task="Reach cell 15 without falling into a hole.",
        deterministic=True,
    )


def named_lake(*arguments: str) -> GymnasiumText:
    """`lake`, with a spec of its own."""
    env = lake(*arguments)
    env.spec = "my-lake"
    return env


def from_arguments(arguments: list[str]) -> GymnasiumText:
    """The entry-point form: the argument list."""
    return lake(*arguments)


def broken(*arguments: str) -> TextEnv:
    """A factory that fails."""
    raise RuntimeError("the lamp is out")


def not_an_env(*arguments: str) -> int:
    """A factory that returns something else."""
    return 42


def raw_gymnasium(*arguments: str) -> gym.Env:
    """A gymnasium environment not wrapped for text."""
    return gym.make("FrozenLake-v1")


class NoActions(TextEnv):
    """Starts every episode with nothing to do."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """An observation without actions."""
        return Observation("Do something.", "Nothing is here.", ())

    def step(self, action: str) -> StepResult:
        """Never reached."""
        raise AssertionError("no action is admissible")


def no_actions(*arguments: str) -> NoActions:
    """An environment that breaks the contract at its first reset."""
    return NoActions()
