"""The step protocol of one served episode: which request may come next, and the answers to retries.

Every request names its step: `act` of step t, `reward` of step t, then `act` of t+1 ... and `end`
after the last reward, with t the number of steps taken. (An act or end may carry the reward of the
step before it: the route then makes that reward request first.) A request repeated with the same
kind and step (a client's retry, concurrent or later) gets the first answer and applies nothing
again; one out of order is 409; one while another is still being answered waits for that answer if
it is the same request, and is 409 otherwise. A request that fails does not use up its step: fix it
and send it again. The work of a request runs as its own task, so a client that hangs up cannot
leave a step applied and unrecorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rlem.agent.sessions import Episode
from rlem.service.errors import conflict, gone

# Answers kept for retries: the last few requests' (a retry is of the newest, rarely older).
KEPT_ANSWERS = 4


class Phase(StrEnum):
    """Where an episode stands."""

    ACT = "act"  # the next request is the act (or the end) of `step`
    REWARD = "reward"  # the next request is the reward of `step`
    ENDED = "ended"  # ended by its client
    EXPIRED = "expired"  # ended by the server: idle past the episode TTL, or the server stopping


@dataclass(kw_only=True)
class Served:
    """An episode served over HTTP: its session episode, its step protocol, its recent answers."""

    id: str
    namespace: str
    episode: Episode
    # The agent slot the episode belongs to (rlem.service.hub.Slot).
    slot: Any
    step: int = 0
    phase: Phase = Phase.ACT
    touched: float = field(default_factory=time.monotonic)
    busy: tuple[tuple[str, int], asyncio.Task] | None = None
    answers: dict[tuple[str, int], Any] = field(default_factory=dict)
    ttl_s: float = 0.0

    @property
    def open(self) -> bool:
        """Whether the episode still takes requests."""
        return self.phase in (Phase.ACT, Phase.REWARD)

    def coming(self, within_s: float) -> bool:
        """Whether an act of this episode (or of its client's next one, after an end) may come soon:
        it is open, has no act in flight, and is being answered or was answered in the last
        `within_s` seconds."""
        if not self.open:
            return False
        if self.busy is not None:
            return self.busy[0][0] != "act"
        return self.idle_s() <= within_s

    def idle_s(self) -> float:
        """Seconds since the last request ended."""
        return time.monotonic() - self.touched

    def expect(self, kind: str, step: int) -> None:
        """Raise 409 or 410 unless `kind` of `step` is the request that may come next."""
        if self.phase is Phase.EXPIRED:
            raise gone(
                f"episode {self.id} was ended as truncated by the server (idle for more than "
                f"{self.ttl_s:g} s, or the server stopping): begin a new one"
            )
        if self.phase is Phase.ENDED:
            raise conflict(f"episode {self.id} has ended: begin a new one")
        wanted = "reward" if self.phase is Phase.REWARD else "act or end"
        if kind == "reward" and self.phase is Phase.ACT:
            raise conflict(f"episode {self.id}: no action awaits a reward; the next request is act or end "
                           f"of step {self.step}")  # fmt: skip
        if kind != "reward" and self.phase is Phase.REWARD:
            raise conflict(f"episode {self.id}: give the reward of step {self.step} first")
        if step != self.step:
            raise conflict(
                f"episode {self.id}: the next request is the {wanted} of step {self.step}, not of step {step}"
            )

    def advance(self, kind: str) -> None:
        """Move on after a successful `kind`."""
        if kind == "act":
            self.phase = Phase.REWARD
        elif kind == "reward":
            self.phase, self.step = Phase.ACT, self.step + 1
        else:
            self.phase = Phase.ENDED

    def reward(self, reward: float, action: str | None) -> str:
        """Record the last action's reward; returns the action taken. On the event loop, not the agent
        thread: it touches this episode only, and the protocol keeps its other requests out meanwhile."""
        self.episode.reward(reward, action=action)
        return self.episode.steps[-1].action

    def answered(self, kind: str, step: int) -> bool:
        """Whether `kind` of `step` has its answer (a repeat gets it)."""
        return (kind, step) in self.answers

    async def call(self, kind: str, step: int, work: Callable[[], Awaitable[Any]]) -> Any:
        """Answer `kind` of `step` by `work`, once: a retry gets the first answer."""
        key = (kind, step)
        if key in self.answers:
            return self.answers[key]
        if self.busy is not None:
            running, task = self.busy
            if running == key:
                return await asyncio.shield(task)
            raise conflict(
                f"episode {self.id}: the {running[0]} of step {running[1]} is still being answered; "
                "wait for its answer"
            )
        self.expect(kind, step)
        task = asyncio.ensure_future(self.settle(key, work))
        # Its failure is the caller's answer; if the caller hung up, nobody else needs it.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        self.busy = (key, task)
        return await asyncio.shield(task)

    async def settle(self, key: tuple[str, int], work: Callable[[], Awaitable[Any]]) -> Any:
        """Run one request's work and record its answer, whatever happens to the client."""
        try:
            result = await work()
            self.answers[key] = result
            for old in list(self.answers)[:-KEPT_ANSWERS]:
                del self.answers[old]
            self.advance(key[0])
            return result
        finally:
            self.busy = None
            self.touched = time.monotonic()
