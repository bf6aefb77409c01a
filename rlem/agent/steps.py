"""The steps of an episode in flight, as the session API records them: a reward for the last action
becomes a step, or the call is refused with `SessionError` and nothing changes. Shared by the
in-process episode and the service's client, so both check a reward alike."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rlem.errors import RlemError
from rlem.learning.trajectory import StepLog
from rlem.policies.base import Decision


class SessionError(RlemError):
    """A session call out of order or with bad arguments; nothing was changed."""


class Steps(Protocol):
    """What `record_reward` keeps of an episode in flight (`Episode`, and the client's)."""

    key: str
    ended: bool
    steps: list[StepLog]
    decisions: list[Decision]
    advice: list[bool | None]
    asked: tuple[str, tuple[str, ...]] | None


def record_reward(episode: Steps, reward: float, action: str | None) -> None:
    """Record the reward of `episode`'s last action as its step (`action`: the caller took another of
    those offered), or raise SessionError changing nothing."""
    if episode.ended:
        raise SessionError(f"episode {episode.key} has ended: begin a new one")
    if episode.asked is None:
        raise SessionError(f"episode {episode.key}: reward() follows act(); no action awaits a reward")
    if not isinstance(reward, (int, float)) or not np.isfinite(reward):
        raise SessionError(f"episode {episode.key}: a reward is a finite number, got {reward!r}")
    observation, offered = episode.asked
    decision = episode.decisions[-1]
    taken = decision.action if action is None else action
    if taken not in offered:
        raise SessionError(
            f"episode {episode.key}: {taken!r} is not one of the actions offered: {list(offered)}"
        )
    if taken != decision.action:
        decision = Decision(taken, "taken by the caller", explored=True)
        episode.decisions[-1], episode.advice[-1] = decision, None
    episode.steps.append(StepLog(observation=observation, available_actions=list(offered), action=taken,
                                 reason=decision.reason, reward=float(reward)))  # fmt: skip
    episode.asked = None
