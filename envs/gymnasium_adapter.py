"""Any gymnasium environment with a Discrete action space as a TextEnv, told in your own words.

Give the environment, a function from an observation to text, one from an action to text, and the
task (a text, or a function of the reset observation and info). Save this as `mygrid/envs.py` and
run it with `rlem run --env mygrid.envs:cliff:100` (see envs/registry.py for the spec forms)::

    import gymnasium as gym

    from envs.gymnasium_adapter import GymnasiumText

    MOVES = ("move up", "move right", "move down", "move left")


    def cliff(steps: str = "100") -> GymnasiumText:
        \"\"\"CliffWalking in one sentence a step; `steps` is the step limit.\"\"\"
        return GymnasiumText(
            gym.make("CliffWalking-v1", max_episode_steps=int(steps)),
            observation_text=lambda cell: f"You are at row {cell // 12 + 1}, column {cell % 12 + 1}.",
            action_text=MOVES.__getitem__,
            task="Walk from row 4, column 1 to row 4, column 12; the rest of row 4 is a cliff.",
            success=lambda cell, reward, info: True,  # the goal is the only way the walk ends
            deterministic=True,
        )
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import gymnasium as gym

from envs.base import Observation
from envs.toy_text import ToyText

RETRIEVAL_TEXTS = ("task+observation", "observation")


class GymnasiumText(ToyText):
    """A gymnasium environment with Discrete actions, its observations and actions put in words by
    the functions given; steps are checked and `info["success"]` set as in every toy-text adapter."""

    def __init__(
        self,
        env: gym.Env,
        *,
        observation_text: Callable[[Any], str],
        action_text: Callable[[int], str],
        task: str | Callable[[Any, dict[str, Any]], str],
        admissible: Callable[[Any, dict[str, Any]], Iterable[int]] | None = None,
        success: Callable[[Any, float, dict[str, Any]], bool] | None = None,
        spec: str = "",
        deterministic: bool = False,
        retrieval_text: Literal["task+observation", "observation"] = "task+observation",
    ):
        """`admissible(observation, info)` gives the actions allowed per step (default: all);
        `success(observation, reward, info)` judges a terminating step (default: reward > 0)."""
        space = env.action_space
        if not isinstance(space, gym.spaces.Discrete):
            raise ValueError(
                f"GymnasiumText takes an environment with a Discrete action space, got {space}: "
                "wrap the environment in a gymnasium ActionWrapper that offers a few discrete choices"
            )
        if retrieval_text not in RETRIEVAL_TEXTS:
            raise ValueError(f"retrieval_text is one of {', '.join(RETRIEVAL_TEXTS)}, got {retrieval_text!r}")
        self.first = int(space.start)
        texts = self.actions = tuple(action_text(self.first + i) for i in range(int(space.n)))
        if len(set(texts)) < len(texts) or not all(isinstance(a, str) and a for a in texts):
            raise ValueError(
                f"action_text must give every action a distinct non-empty text, got {list(texts)}"
            )
        super().__init__(env)
        self.observation_text, self.task_source = observation_text, task
        self.allowed, self.judge = admissible, success
        self.spec, self.deterministic, self.retrieval_text = spec, deterministic, retrieval_text
        self.episode_task: str | None = None

    @property
    def task(self) -> str:
        """The task text, computed once per episode when it is a function of the reset."""
        if self.episode_task is None:
            source = self.task_source
            self.episode_task = source(self.state, self.info) if callable(source) else source
        return self.episode_task

    def describe(self) -> str:
        """The observation in the words of `observation_text`."""
        return self.observation_text(self.state)

    def admissible(self) -> tuple[str, ...]:
        """All action texts, or those of the indices `admissible` gives for this step."""
        if self.allowed is None:
            return self.actions
        indices = list(self.allowed(self.state, self.info))
        outside = [i for i in indices if not self.first <= i < self.first + len(self.actions)]
        if outside:
            raise ValueError(f"admissible gave actions {outside} outside the action space")
        return tuple(self.actions[i - self.first] for i in indices)

    def encode(self, action: str) -> int:
        """The Discrete action of an action text."""
        return self.first + self.actions.index(action)

    def succeeded(self, reward: float, terminated: bool) -> bool:
        """A terminating step that `success` accepts (default: one with a positive reward)."""
        if not terminated:
            return False
        return bool(self.judge(self.state, reward, self.info)) if self.judge else reward > 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """Start an episode (and work out its task text anew)."""
        self.episode_task = None
        return super().reset(seed=seed, options=options)
