"""The shared adapter for gymnasium's toy-text environments: actions by name, steps checked, success.

Each environment module supplies the action names (in gymnasium's order), the task text and a
description of the current state; this base class does the bookkeeping. A subclass may narrow the
actions allowed per state (`admissible`) and number them otherwise (`encode`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import gymnasium as gym

from envs.base import Observation, StepResult, TextEnv, require_admissible


class ToyText(TextEnv):
    """A gymnasium toy-text environment told in words."""

    actions: tuple[str, ...] = ()

    def __init__(self, env: gym.Env):
        self.env = env
        self.state: Any = None
        self.info: dict[str, Any] = {}
        self.available: tuple[str, ...] = ()
        self.done = True

    @property
    @abstractmethod
    def task(self) -> str:
        """The goal of the episode (constant while it runs)."""

    @abstractmethod
    def describe(self) -> str:
        """The current state in words."""

    def succeeded(self, reward: float, terminated: bool) -> bool:
        """Whether a terminating step achieved the task (default: it paid a positive reward)."""
        return terminated and reward > 0

    def admissible(self) -> tuple[str, ...]:
        """The actions allowed in the current state (default: all of them)."""
        return self.actions

    def encode(self, action: str) -> int:
        """The gymnasium action of an action name (default: its place in `actions`)."""
        return self.actions.index(action)

    def observe(self) -> Observation:
        """The task, the state in words, and the actions allowed now."""
        self.available = self.admissible()
        return Observation(self.task, self.describe(), self.available)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """Start an episode."""
        self.state, self.info = self.env.reset(seed=seed, options=options)
        self.done = False
        return self.observe()

    def step(self, action: str) -> StepResult:
        """Take an admissible action by name."""
        require_admissible(action, self.available, self.done)
        self.state, reward, terminated, truncated, self.info = self.env.step(self.encode(action))
        self.done = terminated or truncated
        success = self.succeeded(float(reward), terminated)
        return StepResult(self.observe(), float(reward), terminated, truncated, {"success": success})

    def close(self) -> None:
        """Close the gymnasium environment."""
        self.env.close()
