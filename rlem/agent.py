"""The RLEM agent: K environments in lockstep, one policy call per step for all of them.

Before each action it retrieves the most similar stored states, works out what the memory says
each action is worth here (`rlem.policies.values`) and builds the exemplar prompt; in a
deterministic environment, an action that already left this observation unchanged in the episode
is not offered again.
An episode ends at the environment's own end or after `max_steps` steps, whichever comes first.
While training, an `explore` share of decisions is a uniformly random admissible action, taken
without asking the policy (epsilon-greedy, for every policy alike). After each step of a training
episode it feeds the learner (n-step updates go to the memory as they become due). Evaluation
episodes never write. An episode's final updates are handed to the caller (`finish`) so that they
can commit together with the run's own bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from envs import Observation, TextEnv
from memory_store import ExperienceStore
from rlem.double_q import retrieve, same_situation
from rlem.exemplars import ExemplarConfig, Templates, Tokenizer, build_prompt
from rlem.policies.base import Decision, Policy, Situation, followed_advice
from rlem.policies.values import DEFAULT_POOL_MARGIN, ActionValues, action_values
from rlem.qlearning import EpisodeLearner, Rule, Step, Tables
from rlem.trajectory import EpisodeLog, StepLog

MemoryMode = Literal["rlem", "static", "off"]


@dataclass(frozen=True)
class Job:
    """One episode to run: its key in the run's schedule, the environment seed, and whether it trains."""

    key: str
    seed: int
    training: bool


@dataclass
class Finished:
    """A finished episode: its log, its decision statistics, and (training) the learner to flush."""

    job: Job
    log: EpisodeLog
    learner: EpisodeLearner | None
    decisions: list[Decision]
    advice: list[bool | None]
    seconds: float

    @property
    def success(self) -> bool:
        """Whether the environment reported success on the last step."""
        return bool(self.log.success)


@dataclass
class Running:
    """An episode in flight in one environment slot."""

    job: Job
    env: TextEnv
    observation: Observation
    learner: EpisodeLearner | None
    started: float
    steps: list[StepLog] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    advice: list[bool | None] = field(default_factory=list)
    success: bool = False


def choices(running: Running) -> tuple[str, ...]:
    """The admissible actions, less those that already left this very observation unchanged in this
    episode, in a deterministic environment (`TextEnv.deterministic`).

    Such an action would change nothing again. A greedy policy whose best action is one (walking
    into a wall that a noisy estimate rates well) would otherwise take it, or alternate two of
    them, until the step limit; the memory still learns them. If every action is such, all stay.
    """
    seen = running.observation
    actions = seen.available_actions
    if not running.env.deterministic or len(actions) < 2:
        return actions
    # What each step led to: the next step's observation, or the current one after the last step.
    after = [step.observation for step in running.steps[1:]] + [seen.text] if running.steps else []
    idle = {
        step.action
        for step, then in zip(running.steps, after, strict=True)
        if step.observation == then == seen.text
    }
    left = tuple(a for a in actions if a not in idle)
    return left or actions


class Agent:
    """Retrieval, prompting, decisions and learning for a batch of environments."""

    def __init__(
        self,
        policy: Policy,
        store: ExperienceStore | None,
        second: ExperienceStore | None,
        tables: Tables | None,
        rule: Rule,
        exemplars: ExemplarConfig,
        tokenizer: Tokenizer | None,
        templates: Templates | None,
        rng: np.random.Generator,
        explore: float = 0.0,
        max_steps: int | None = None,
        *,
        pool_margin: float = DEFAULT_POOL_MARGIN,
    ):
        if not 0.0 <= explore <= 1.0:
            raise ValueError(f"explore must be in [0, 1], got {explore}")
        self.policy, self.store, self.second, self.tables, self.rule = policy, store, second, tables, rule
        self.exemplars, self.tokenizer, self.templates, self.rng = exemplars, tokenizer, templates, rng
        self.explore, self.max_steps, self.pool_margin = explore, max_steps, pool_margin

    def situation(self, running: Running) -> Situation:
        """What the policy sees for one environment: retrieved experiences and the prompt."""
        seen = running.observation
        options = choices(running)
        last = tuple(step.action for step in running.steps)
        wanted = self.store is not None and self.exemplars.k > 0
        retrieved = (
            tuple(retrieve(self.store, self.second, seen.task, seen.text, self.exemplars.k)) if wanted else ()
        )
        values = (
            action_values(
                same_situation(self.store, self.second, seen.task, seen.text),
                retrieved,
                margin=self.pool_margin,
            )
            if self.store is not None
            else ActionValues()
        )
        if self.tokenizer is None:
            return Situation(seen.task, seen.text, options, retrieved, last, values=values)
        prompt = build_prompt(
            seen.task,
            seen.text,
            options,
            retrieved,
            self.exemplars,
            self.tokenizer,
            self.templates,
            self.rng,
            last_actions=last,
        )
        return Situation(
            seen.task, seen.text, options, retrieved, last, prompt.text, prompt.encouraged, values
        )

    def start(self, job: Job, env: TextEnv) -> Running:
        """Reset an environment for a job."""
        observation = env.reset(seed=job.seed)
        learner = EpisodeLearner(observation.task, self.rule) if job.training and self.tables else None
        return Running(job, env, observation, learner, time.perf_counter())

    def run(self, jobs: Sequence[Job], envs: Sequence[TextEnv], finish: Callable[[Finished], None]) -> None:
        """Run all jobs, len(envs) at a time in lockstep; call `finish` as each episode ends."""
        queue = list(jobs)
        slots: list[Running | None] = [None] * len(envs)
        for i, env in enumerate(envs):
            if queue:
                slots[i] = self.start(queue.pop(0), env)
        while any(slots):
            active = [i for i, s in enumerate(slots) if s is not None]
            situations = [self.situation(slots[i]) for i in active]
            training = [slots[i].job.training for i in active]
            decisions = self.decide(situations, training)
            for i, situation, decision in zip(active, situations, decisions, strict=True):
                running = slots[i]
                done = self.act(running, situation, decision)
                if done:
                    finish(self.wrap_up(running))
                    slots[i] = self.start(queue.pop(0), running.env) if queue else None

    def decide(self, situations: list[Situation], training: list[bool]) -> list[Decision]:
        """Exploring draws, then one batched policy call per mode for the rest (training, evaluation)."""
        decisions: list[Decision | None] = [None] * len(situations)
        for i, (situation, trains) in enumerate(zip(situations, training, strict=True)):
            if trains and self.explore and self.rng.random() < self.explore:
                options = situation.available_actions
                decisions[i] = Decision(
                    options[int(self.rng.integers(len(options)))], "exploring", explored=True
                )
        for mode in (True, False):
            picked = [i for i, t in enumerate(training) if t == mode and decisions[i] is None]
            if picked:
                chosen = self.policy.decide([situations[i] for i in picked], training=mode)
                for i, decision in zip(picked, chosen, strict=True):
                    decisions[i] = decision
        return decisions  # type: ignore[return-value]

    def act(self, running: Running, situation: Situation, decision: Decision) -> bool:
        """Step one environment, log the step, feed the learner; True when the episode ended."""
        seen = running.observation
        result = running.env.step(decision.action)
        running.steps.append(
            StepLog(
                observation=seen.text,
                available_actions=list(seen.available_actions),
                action=decision.action,
                reason=decision.reason,
                reward=result.reward,
            )
        )
        running.decisions.append(decision)
        running.advice.append(followed_advice(situation, decision))
        out_of_steps = self.max_steps is not None and len(running.steps) >= self.max_steps
        done = result.terminated or result.truncated or out_of_steps
        if running.learner is not None:
            step = Step(seen.text, seen.available_actions, decision.action, result.reward, decision.reason)
            running.learner.observe(self.tables, step, result.observation.text, done)
        running.observation = result.observation
        running.success = bool(result.info.get("success"))
        return done

    def wrap_up(self, running: Running) -> Finished:
        """The finished episode's log and statistics."""
        final = running.observation
        log = EpisodeLog(
            task=final.task,
            steps=running.steps,
            final_observation=final.text,
            final_available_actions=list(final.available_actions),
            env=running.env.spec,
            seed=running.job.seed,
            success=running.success,
            episode_return=sum(s.reward for s in running.steps),
        )
        seconds = time.perf_counter() - running.started
        return Finished(running.job, log, running.learner, running.decisions, running.advice, seconds)
