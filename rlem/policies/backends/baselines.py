"""Policies without an LLM, for ablations and tests: uniform random, and the paper's memory alone."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlem.policies.base import Decision, Policy, Situation


class RandomPolicy(Policy):
    """Uniform over the admissible actions."""

    name = "random"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        """A uniformly drawn admissible action per situation."""
        return [
            Decision(s.available_actions[int(self.rng.integers(len(s.available_actions)))], "random choice")
            for s in situations
        ]


class MemoryGreedyPolicy(Policy):
    """REMEMBERER's memory without the LLM: act on what the memory says each action is worth here.

    An admissible action that the states standing for this situation never tried comes first
    (optimism, so every action gets a value even when all rewards are negative); otherwise the
    admissible action with the best value (`Situation.values`, see values.py). With no memory at
    all, a random one. (Exploration while training is the agent's, for every policy:
    `rlem.agent.sessions.RLEMAgent.decide`.)
    """

    name = "memory-greedy"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def choose(self, situation: Situation) -> Decision:
        """The decision for one situation."""
        admissible = situation.available_actions
        values = situation.values
        if values.basis == "none":
            return Decision(admissible[int(self.rng.integers(len(admissible)))], "memory is empty")
        where = "this situation" if values.basis == "same" else "the most similar states"
        untried = values.untried(admissible)
        if untried:
            return Decision(untried[int(self.rng.integers(len(untried)))], f"not tried in {where}")
        top = max(values.q[a] for a in admissible)
        # Random among equal bests: a fixed order would walk into the same wall forever.
        ties = [a for a in admissible if values.q[a] == top]
        best = ties[int(self.rng.integers(len(ties)))]
        return Decision(best, f"best Q {top:.3f} in {where}")

    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        """One memory-greedy decision per situation."""
        return [self.choose(s) for s in situations]
