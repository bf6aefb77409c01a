"""The session API: an RLEM agent driven from any loop, one episode at a time or many at once.

    agent = RLEMAgent.open(AgentConfig(db="sqlite:///memory.db", namespace="shop", policy="hf"))
    episode = agent.begin(task, training=True)
    action = episode.act(observation, actions)   # retrieval, prompt, one decision
    episode.reward(r)                            # the update it makes due goes in at the next act/end
    episode.end(final_observation, success=True) # remaining updates + trajectory, one transaction
    actions = agent.act_many([(ep_a, obs_a, acts_a), (ep_b, obs_b, acts_b)])  # one policy batch
    turns = agent.decide_many(...)               # the same, with each decision and what it was shown

Contract: `act` and `reward` alternate; `end` follows a `reward` (or a `begin`). A transition
(s_t, a_t, r_{t+1}, s_{t+1}) reaches the learning rule when s_{t+1} does: at the next `act`, or at
`end`. Evaluation episodes (`training=False`) never write. An episode that is never ended writes
nothing beyond the updates already due; `close()` ends open episodes as truncated (as the step
limit does), dropping a last action that got no reward. Bad calls raise `SessionError` and change
nothing. A policy passed to `open` stays the caller's: `close()` releases only one it built.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memory_store import ExperienceStore
from memory_store.errors import InvalidArgument
from memory_store.limits import check_unicode
from memory_store.store import succeeded
from rlem.agent.exemplars import ExemplarConfig, HFTokenizer, load_templates
from rlem.agent.memories import open_memory, trajectory_writer
from rlem.agent.situations import Viewer, choices
from rlem.agent.steps import SessionError, record_reward
from rlem.config import AgentConfig
from rlem.learning.learner import Learning
from rlem.learning.qlearning import EpisodeLearner
from rlem.learning.trajectory import EpisodeLog, StepLog
from rlem.policies.base import Decision, Policy, Situation, followed_advice
from rlem.policies.factory import make_policy


@dataclass(kw_only=True)
class EpisodeResult:
    """An ended episode: its log, its decisions, and whether the advice shown was followed."""

    key: str
    training: bool
    log: EpisodeLog
    decisions: list[Decision]
    advice: list[bool | None]
    seconds: float

    @property
    def success(self) -> bool:
        """Whether the caller reported success."""
        return bool(self.log.success)


@dataclass(frozen=True)
class Turn:
    """One decision and the situation the policy was shown for it."""

    decision: Decision
    situation: Situation


# Called as each episode ends, with the memory's size after its updates (None without a memory):
# inside the episode's final transaction for a training episode, so files it writes exist whenever
# the updates do.
EndHook = Callable[[EpisodeResult, int | None], None]


@dataclass(kw_only=True)
class Episode:
    """One episode in flight; made by `RLEMAgent.begin`."""

    agent: RLEMAgent
    task: str
    training: bool
    key: str
    seed: int | None
    env: str | None
    deterministic: bool
    learner: EpisodeLearner | None
    # Share of this episode's training decisions taken at random, and its step limit.
    explore: float
    max_steps: int | None
    started: float = field(default_factory=time.perf_counter)
    steps: list[StepLog] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    advice: list[bool | None] = field(default_factory=list)
    # The last act's observation and actions while its reward is awaited, and whether the last step
    # (a training transition) awaits its next observation.
    asked: tuple[str, tuple[str, ...]] | None = None
    pending: bool = False
    ended: bool = False

    @property
    def out_of_steps(self) -> bool:
        """Whether the agent's step limit (`max_steps`) is reached: the episode must end."""
        return self.max_steps is not None and len(self.steps) >= self.max_steps

    def act(self, observation: str, actions: Sequence[str]) -> str:
        """The agent's action in `observation`, one of `actions`."""
        return self.agent.act_many([(self, observation, actions)])[0]

    def reward(self, reward: float, *, action: str | None = None) -> None:
        """The reward for the last action; `action` if the caller took another of the offered ones."""
        record_reward(self, reward, action)
        self.pending = self.learner is not None

    def feed(self, next_observation: str, *, done: bool) -> None:
        """Hand the awaited transition to the learning rule now that its next observation is known."""
        self.agent.feed_many([(self, next_observation)], done=done)

    def end(
        self, observation: str = "", actions: Sequence[str] = (), *, success: bool = False
    ) -> EpisodeResult:
        """End the episode in its final `observation`: remaining updates and the trajectory (training)
        in one transaction."""
        if self.ended:
            raise SessionError(f"episode {self.key} has already ended")
        if self.asked is not None:
            raise SessionError(f"episode {self.key}: give reward() for the last action before end()")
        return self.agent.finish(self, observation, tuple(actions), success=success)


class RLEMAgent:
    """A policy on one memory: retrieval, prompts, decisions and learning for episodes of any loop."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        policy: Policy,
        store: ExperienceStore | None,
        learning: Learning | None,
        hooks: Sequence[EndHook] = (),
        owns_policy: bool = True,
    ):
        self.config, self.policy, self.store, self.learning = config, policy, store, learning
        self.owns_policy = owns_policy
        self.hooks = list(hooks)
        self.rng = np.random.default_rng(config.seed)
        tokenizer = getattr(policy, "tokenizer", None)
        self.viewer = Viewer(
            store=store,
            second=learning.second if learning is not None else None,
            exemplars=ExemplarConfig(
                k=config.k, advice_mode=config.advice_mode, token_budget=config.token_budget
            ),
            tokenizer=HFTokenizer(tokenizer) if tokenizer is not None else None,
            templates=load_templates(policy.templates),
            pool_margin=config.pool_margin,
            rng=self.rng,
        )
        self.open_episodes: dict[str, Episode] = {}
        self.counter = 0

    @classmethod
    def open(
        cls,
        config: AgentConfig,
        *,
        policy: Policy | None = None,
        journal: str | None = None,
        log: Path | None = None,
        hooks: Sequence[EndHook] = (),
    ) -> RLEMAgent:
        """Open the memory and build the policy (`policy` to bring your own, which stays yours to close).

        `log` appends each ended training episode to a trajectory file (the replay format);
        `journal` names the run whose episodes get a journal row; `hooks` run as episodes end.
        """
        store = open_memory(config)
        try:
            learning = (
                Learning.open(store, config.rule(), journal=journal) if config.memory == "rlem" else None
            )
            if log is not None:
                hooks = [*hooks, trajectory_writer(log)]
            return cls(config, policy=policy or make_policy(config.policy_spec()), store=store,
                       learning=learning, hooks=hooks, owns_policy=policy is None)  # fmt: skip
        except BaseException:
            if store is not None:
                store.close(save_index=False)
            raise

    def begin(
        self,
        task: str,
        *,
        training: bool = True,
        key: str | None = None,
        seed: int | None = None,
        env: str | None = None,
        deterministic: bool = False,
        explore: float | None = None,
        max_steps: int | None = None,
    ) -> Episode:
        """Start an episode of `task`; `training` ones write to the memory, evaluation ones do not.

        `deterministic`: the environment's actions always have the same outcome, so an action that
        left the observation unchanged is not offered again in the episode. `explore` and
        `max_steps` override the agent's settings for this episode.
        """
        if not isinstance(task, str) or not task:
            raise SessionError("an episode's task is a non-empty string")
        self.counter += 1
        key = key or f"episode-{self.counter}"
        if key in self.open_episodes:
            raise SessionError(f"episode {key} is already open: give another key")
        learner = self.learning.learner(task) if training and self.learning is not None else None
        explore = self.config.explore if explore is None else explore
        if not isinstance(explore, (int, float)) or not 0 <= explore <= 1:
            raise SessionError(f"explore is a share between 0 and 1, got {explore!r}")
        max_steps = self.config.max_steps if max_steps is None else max_steps
        if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
            raise SessionError(f"max_steps is a positive count, got {max_steps!r}")
        episode = Episode(agent=self, task=task, training=training, key=key, seed=seed, env=env,
                          deterministic=deterministic, learner=learner, explore=float(explore),
                          max_steps=max_steps)  # fmt: skip
        self.open_episodes[key] = episode
        return episode

    def act_many(self, requests: Sequence[tuple[Episode, str, Sequence[str]]]) -> list[str]:
        """One action per (episode, observation, actions), decided in one policy batch per mode."""
        return [turn.decision.action for turn in self.decide_many(requests)]

    def decide_many(self, requests: Sequence[tuple[Episode, str, Sequence[str]]]) -> list[Turn]:
        """`act_many`, returning each decision with the situation it was made in."""
        checked = [check_request(episode, observation, actions) for episode, observation, actions in requests]
        if len({id(episode) for episode, _, _ in checked}) != len(checked):
            raise SessionError("act_many takes each episode once per call")
        # Embedded first: bootstrapping from a state not stored yet looks for the nearest by its text.
        self.viewer.prefetch([(episode.task, observation) for episode, observation, _ in checked])
        self.feed_many([(episode, observation) for episode, observation, _ in checked], done=False)
        situations = [
            self.viewer.situation(
                episode.task,
                observation,
                choices(episode.steps, observation, actions, deterministic=episode.deterministic),
                tuple(step.action for step in episode.steps),
            )
            for episode, observation, actions in checked
        ]
        rates = [episode.explore if episode.training else 0.0 for episode, _, _ in checked]
        decisions = self.decide(situations, [episode.training for episode, _, _ in checked], rates)
        for (episode, observation, actions), situation, decision in zip(
            checked, situations, decisions, strict=True
        ):
            episode.decisions.append(decision)
            episode.advice.append(followed_advice(situation.encouraged, decision))
            episode.asked = (observation, actions)
        return [Turn(d, s) for d, s in zip(decisions, situations, strict=True)]

    def feed_many(self, fed: Sequence[tuple[Episode, str]], *, done: bool) -> None:
        """Hand each episode's awaited transition, now that its next observation is known, to the
        learning rule: the updates they make due in one transaction."""
        learning = self.learning
        due = [(e, o) for e, o in fed if e.pending and e.learner is not None] if learning is not None else []
        if due:
            seqs = learning.observe_many(  # type: ignore[union-attr]
                [(e.learner, e.steps[-1].transition(), o) for e, o in due], done=done
            )
            for (episode, _), seq in zip(due, seqs, strict=True):
                episode.steps[-1] = episode.steps[-1].model_copy(update={"seq": seq})
        for episode, _ in fed:
            episode.pending = False

    def decide(
        self, situations: list[Situation], training: list[bool], explore: list[float]
    ) -> list[Decision]:
        """Exploring draws (at each situation's rate), then one batched policy call per mode for the
        rest (training, evaluation)."""
        decisions: list[Decision | None] = [None] * len(situations)
        for i, (situation, trains, rate) in enumerate(zip(situations, training, explore, strict=True)):
            if trains and rate and self.rng.random() < rate:
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

    def finish(
        self, episode: Episode, observation: str, actions: tuple[str, ...], *, success: bool
    ) -> EpisodeResult:
        """End `episode` (see `Episode.end`)."""
        episode.feed(observation, done=True)
        episode.ended = True
        self.open_episodes.pop(episode.key, None)
        log = EpisodeLog(
            task=episode.task,
            steps=episode.steps,
            final_observation=observation,
            final_available_actions=list(actions),
            env=episode.env,
            seed=episode.seed,
            success=success,
            episode_return=sum(s.reward for s in episode.steps),
            run_key=episode.key,
        )
        result = EpisodeResult(
            key=episode.key,
            training=episode.training,
            log=log,
            decisions=episode.decisions,
            advice=episode.advice,
            seconds=time.perf_counter() - episode.started,
        )
        if episode.learner is None or self.learning is None:
            for hook in self.hooks:
                hook(result, len(self.store) if self.store is not None else None)
            return result

        def before_commit(size: int, seq: int) -> None:
            result.log = result.log.model_copy(update={"seq": seq})
            for hook in self.hooks:
                hook(result, size)

        self.learning.end(episode.learner, key=episode.key, before_commit=before_commit)
        return result

    def truncate(self, episode: Episode) -> EpisodeResult:
        """End an open episode where it stands, as the step limit does; a last action that got no
        reward is dropped (it is not a transition)."""
        if episode.asked is not None:
            episode.asked = None
            episode.decisions.pop()
            episode.advice.pop()
        observation = episode.steps[-1].observation if episode.steps else ""
        return episode.end(observation)

    def close(self, *, save_index: bool = True) -> None:
        """End open episodes as truncated, then release the policy (if it built it) and the memory."""
        try:
            if save_index:
                for episode in list(self.open_episodes.values()):
                    self.truncate(episode)
        finally:
            if self.owns_policy:
                self.policy.close()
            if self.learning is not None:
                self.learning.close(save_index=save_index)
            if self.store is not None:
                self.store.close(save_index=save_index)

    def __enter__(self) -> RLEMAgent:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc) -> None:
        self.close(save_index=succeeded(kind))


def check_request(
    episode: Episode, observation: str, actions: Sequence[str]
) -> tuple[Episode, str, tuple[str, ...]]:
    """One act request as checked values, or SessionError saying what is wrong with it."""
    if not isinstance(episode, Episode):
        raise SessionError(
            f"act_many takes (episode, observation, actions) triples, got a {type(episode).__name__}"
        )
    if episode.ended:
        raise SessionError(f"episode {episode.key} has ended: begin a new one")
    if episode.asked is not None:
        raise SessionError(f"episode {episode.key}: give reward() for the last action before acting again")
    if episode.out_of_steps:
        raise SessionError(f"episode {episode.key} reached max_steps={episode.max_steps}: end() it")
    if not isinstance(observation, str):
        raise SessionError(
            f"episode {episode.key}: the observation is text, got a {type(observation).__name__}"
        )
    if isinstance(actions, str) or not all(isinstance(a, str) and a for a in actions):
        raise SessionError(f"episode {episode.key}: actions are a list of non-empty strings")
    try:
        for text in (observation, *actions):
            check_unicode(text, "the text")
    except InvalidArgument as exc:
        raise SessionError(f"episode {episode.key}: {exc}") from None
    options = tuple(dict.fromkeys(actions))
    if not options:
        raise SessionError(f"episode {episode.key}: no admissible action to choose from")
    return episode, observation, options
