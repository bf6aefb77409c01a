"""The trajectory log: JSON Lines, one episode per line, written by the run loop and read by replay.

`steps[t].reward` is r_{t+1}, the reward the environment returned for `steps[t].action`.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory_store.errors import InvalidFile, first_problem
from rlem.learning.qlearning import Step


class StepLog(BaseModel):
    """One step: what the agent saw, could do, did, why, and the reward it got."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    observation: str
    available_actions: list[str]
    action: str
    reason: str = ""
    reward: float
    # When this step reached the learning rule, among all the memory's updates (rlem.learning.learner).
    seq: int | None = None

    def transition(self) -> Step:
        """The step as the learning rule takes it."""
        return Step(self.observation, tuple(self.available_actions), self.action, self.reward, self.reason)


class EpisodeLog(BaseModel):
    """One episode; fields beyond the required ones are metadata and are kept as written."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, populate_by_name=True)

    task: str
    steps: list[StepLog]
    final_observation: str
    final_available_actions: list[str]
    env: str | None = None
    seed: int | None = None
    success: bool | None = None
    episode_return: float | None = Field(default=None, alias="return")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_key: str | None = None
    # When the episode's final updates were applied, among all the memory's updates (rlem.learning.learner).
    seq: int | None = None


def read_episodes(path: Path) -> list[EpisodeLog]:
    """Parse and validate every line; the first bad line raises InvalidFile naming line and field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFile(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    episodes = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            episodes.append(EpisodeLog.model_validate_json(line))
        except ValidationError as exc:
            raise InvalidFile(f"{path} line {number}: {first_problem(exc)}") from None
    return episodes


def append_episode(path: Path, episode: EpisodeLog) -> None:
    """Append one episode as one complete line, flushed to disk before returning."""
    line = json.dumps(episode.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
