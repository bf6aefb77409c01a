"""The RLEM update rule (REMEMBERER, arXiv 2306.07929): n-step Q-learning written into the memory.

An episode is states s_0..s_T, actions a_0..a_{T-1} and rewards r_1..r_T, where r_{t+1} is what the
environment returned for a_t. With discount gamma and horizon n:

  n = None (Monte Carlo), at episode end, for t = 0..T-1 in order:
      target_t = sum_{j>=t} gamma^(j-t) r_{j+1}

  n >= 1, online: as soon as s_{t+n} is observed and the episode has not ended (t + n <= T - 1):
      target_t = sum_{j=0}^{n-1} gamma^j r_{t+1+j}  +  gamma^n max_a Q(s_{t+n}, a)
  then at episode end, for t = max(0, T-n)..T-1 in order (truncated, no bootstrap):
      target_t = sum_{j=t}^{T-1} gamma^(j-t) r_{j+1}

Q(s_t, a_t) moves toward target_t by the memory's averaging rule (`mean` or `const`); each update
also counts a visit of s_t and records r_t, the return so far and the actions before s_t. When
s_{t+n} is not stored, max_a Q is read from the most similar stored state (optionally 0 below a
similarity floor). Double Q-learning keeps two tables: successive updates alternate between them,
each bootstrapping from the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from memory_store import Averaging, Update


class QTable(Protocol):
    """What the rule needs of a memory: the bootstrap value and a way to apply updates."""

    def max_q(self, task: str, observation: str, floor: float | None = None) -> float: ...

    def apply(self, updates: Sequence[Update], *, mode: Averaging, lr: float) -> object: ...


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Settings of the update rule.

    The defaults are one-step Q-learning at a constant rate: of the settings measured on every
    shipped environment (bench/results/learning.md) the one that learns on each. The paper's
    averaging over visits is `mode=MEAN`, its Monte Carlo returns `n_step=None`.
    """

    n_step: int | None = 1
    gamma: float = 0.99
    mode: Averaging = Averaging.CONST
    lr: float = 0.1
    similarity_floor: float | None = None
    double_q: bool = False

    def __post_init__(self) -> None:
        if self.n_step is not None and self.n_step < 1:
            raise ValueError(f"n_step must be a positive integer or None, got {self.n_step}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")


@dataclass(frozen=True)
class Step:
    """One transition: in `observation` the agent took `action` and the environment returned `reward`."""

    observation: str
    available_actions: tuple[str, ...]
    action: str
    reward: float
    reason: str = ""


def discounted(rewards: Sequence[float], gamma: float) -> float:
    """sum_j gamma^j rewards[j]."""
    return sum(gamma**j * r for j, r in enumerate(rewards))


@dataclass
class Tables:
    """The Q table(s) of one memory, and whose turn the next update is (alternating under double Q)."""

    tables: Sequence[QTable]
    turn: int = 0

    def next(self) -> tuple[QTable, QTable]:
        """(table to update, table to bootstrap from), then pass the turn."""
        if len(self.tables) == 1:
            return self.tables[0], self.tables[0]
        current = self.turn % 2
        self.turn += 1
        return self.tables[current], self.tables[1 - current]


@dataclass
class EpisodeLearner:
    """Feeds one episode into the memory by the rule above, step by step."""

    task: str
    rule: Rule
    steps: list[Step] = field(default_factory=list)

    def update(self, t: int, target: float) -> Update:
        """The update of (s_t, a_t) toward `target`, with the state's arrival statistics."""
        rewards = [s.reward for s in self.steps]
        step = self.steps[t]
        return Update(
            task=self.task,
            observation=step.observation,
            action=step.action,
            target=target,
            reward=step.reward,
            available_actions=step.available_actions,
            reason=step.reason,
            last_reward=rewards[t - 1] if t > 0 else 0.0,
            total_reward=sum(rewards[:t]),
            action_history=tuple(s.action for s in self.steps[:t]),
        )

    def observe(self, tables: Tables, step: Step, next_observation: str, done: bool) -> None:
        """Record a_t taken in s_t with reward r_{t+1}, having observed s_{t+1} (final if `done`)."""
        self.steps.append(step)
        n, gamma = self.rule.n_step, self.rule.gamma
        t = len(self.steps) - n if n is not None else -1
        if n is None or done or t < 0:
            return
        rewards = [s.reward for s in self.steps[t : t + n]]
        write, read = tables.next()
        bootstrap = read.max_q(self.task, next_observation, self.rule.similarity_floor)
        target = discounted(rewards, gamma) + gamma**n * bootstrap
        write.apply([self.update(t, target)], mode=self.rule.mode, lr=self.rule.lr)

    def finish(self, tables: Tables) -> None:
        """At episode end, update the steps not yet updated with their (truncated) returns."""
        T, n, gamma = len(self.steps), self.rule.n_step, self.rule.gamma
        start = 0 if n is None else max(0, T - n)
        rewards = [s.reward for s in self.steps]
        # Consecutive updates to the same table go in one call: one transaction on a live store.
        runs: list[tuple[QTable, list[Update]]] = []
        for t in range(start, T):
            write, _ = tables.next()
            if not runs or runs[-1][0] is not write:
                runs.append((write, []))
            runs[-1][1].append(self.update(t, discounted(rewards[t:], gamma)))
        for table, updates in runs:
            table.apply(updates, mode=self.rule.mode, lr=self.rule.lr)
