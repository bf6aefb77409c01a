"""The text-environment interface: reset and step in words, with the admissible actions spelled out.

Contract (verified for any implementation by `envs.checker.check_env`):
- `reset(seed=..., options=...)` starts an episode and returns its first Observation: the task
  text (constant through the episode), the observation text and the admissible actions (never
  empty); the same seed gives the same episode start.
- `step(action)` takes one of the current admissible actions (anything else raises InvalidAction
  and changes nothing) and returns a StepResult; `info["success"]` is always present and true only
  on a terminating step that achieved the task. After `terminated` or `truncated`, call `reset`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


class InvalidAction(ValueError):
    """An action outside the current admissible actions, or a step after the episode ended."""


def require_admissible(action: str, actions: tuple[str, ...], done: bool) -> None:
    """Raise InvalidAction for a step after the end or an action outside the admissible ones."""
    if done:
        raise InvalidAction("the episode is over: call reset() first")
    if action not in actions:
        raise InvalidAction(f"{action!r} is not one of the admissible actions {list(actions)}")


@dataclass(frozen=True)
class Observation:
    """What the agent is told: the task, what it sees now, and what it may do."""

    task: str
    text: str
    available_actions: tuple[str, ...]


@dataclass(frozen=True)
class StepResult:
    """The outcome of one action."""

    observation: Observation
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)


class TextEnv(ABC):
    """A text environment (see the module docstring for the contract)."""

    spec: str = ""
    # What a memory should match similar states on: both texts, or the observation alone where the
    # task changes per seed in ways a situation does not depend on (a new map, say).
    retrieval_text: str = "task+observation"
    # Whether an action always has the same outcome in the same state: then one that left the
    # observation unchanged would again, and the agent does not repeat it at once.
    deterministic: bool = False

    @abstractmethod
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """Start an episode."""

    @abstractmethod
    def step(self, action: str) -> StepResult:
        """Take one admissible action."""

    def close(self) -> None:  # noqa: B027 - a hook: most environments hold nothing to release
        """Release processes or files the environment holds."""
