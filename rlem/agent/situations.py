"""What the policy is shown before one decision: the retrieved states, what the memory says each
action is worth here (`rlem.policies.values`), and the exemplar prompt (`rlem.agent.exemplars`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory_store import ExperienceStore
from rlem.agent.exemplars import ExemplarConfig, Templates, Tokenizer, build_prompt
from rlem.learning.double_q import retrieve, same_situation
from rlem.learning.trajectory import StepLog
from rlem.policies.base import Situation
from rlem.policies.values import ActionValues, action_values


def choices(
    steps: Sequence[StepLog], observation: str, actions: tuple[str, ...], *, deterministic: bool
) -> tuple[str, ...]:
    """The admissible actions, less those that already left this very observation unchanged in this
    episode, in a deterministic environment (`TextEnv.deterministic`).

    Such an action would change nothing again. A greedy policy whose best action is one (walking
    into a wall that a noisy estimate rates well) would otherwise take it, or alternate two of
    them, until the step limit; the memory still learns them. If every action is such, all stay.
    """
    if not deterministic or len(actions) < 2 or not steps:
        return actions
    # What each step led to: the next step's observation, or the current one after the last step.
    after = [step.observation for step in steps[1:]] + [observation]
    idle = {
        step.action
        for step, then in zip(steps, after, strict=True)
        if step.observation == then == observation
    }
    left = tuple(a for a in actions if a not in idle)
    return left or actions


@dataclass(kw_only=True)
class Viewer:
    """Builds Situations from one memory (or none) for one policy's prompts."""

    store: ExperienceStore | None
    second: ExperienceStore | None
    exemplars: ExemplarConfig
    tokenizer: Tokenizer | None
    templates: Templates | None
    pool_margin: float
    rng: np.random.Generator

    def prefetch(self, states: Sequence[tuple[str, str]]) -> None:
        """Embed the (task, observation) texts of a batch of decisions in one call of the embedder,
        whose cache then answers each situation's retrieval."""
        if self.store is not None and self.exemplars.k > 0 and len(states) > 1:
            self.store.embed_many(states)

    def situation(
        self, task: str, observation: str, options: tuple[str, ...], last: tuple[str, ...]
    ) -> Situation:
        """What the policy sees before choosing among `options` after the actions `last`."""
        store = self.store
        wanted = store is not None and self.exemplars.k > 0
        retrieved = tuple(retrieve(store, self.second, task, observation, self.exemplars.k)) if wanted else ()
        values = (
            action_values(
                same_situation(store, self.second, task, observation), retrieved, margin=self.pool_margin
            )
            if store is not None
            else ActionValues()
        )
        if self.tokenizer is None:
            return Situation(task, observation, options, retrieved, last, values=values)
        prompt = build_prompt(
            task,
            observation,
            options,
            retrieved,
            self.exemplars,
            self.tokenizer,
            self.templates,
            self.rng,
            last_actions=last,
        )
        return Situation(task, observation, options, retrieved, last, prompt.text, prompt.encouraged, values)
