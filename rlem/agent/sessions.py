"""The session API: an RLEM agent driven from any loop, one episode at a time or many at once.

    agent = RLEMAgent.open(AgentConfig(db="sqlite:///memory.db", namespace="shop", policy="hf"))
    episode = agent.begin(task, training=True)
    action = episode.act(observation, actions)   # retrieval, prompt, one decision
    episode.reward(r)                            # the update it makes due goes in at the next act/end
    episode.end(final_observation, success=True) # remaining updates + trajectory, one transaction
    actions = agent.act_many([(ep_a, obs_a, acts_a), (ep_b, obs_b, acts_b)])  # one policy batch

Contract: `act` and `reward` alternate; `end` follows a `reward` (or a `begin`). A transition
(s_t, a_t, r_{t+1}, s_{t+1}) reaches the learning rule when s_{t+1} does: at the next `act`, or at
`end`. Evaluation episodes (`training=False`) never write. An episode that is never ended writes
nothing beyond the updates already due; `close()` ends open episodes as truncated (as the step
limit does), dropping a last action that got no reward. Bad calls raise `SessionError` and change
nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memory_store import ExperienceStore, StoreConfig
from memory_store.formats.transfer import read_memory_file
from memory_store.names import static_name
from memory_store.store import succeeded
from rlem.agent.exemplars import ExemplarConfig, HFTokenizer, load_templates
from rlem.agent.situations import Viewer, choices
from rlem.config import AgentConfig
from rlem.errors import RlemError
from rlem.learning.learner import Learning
from rlem.learning.qlearning import EpisodeLearner
from rlem.learning.trajectory import EpisodeLog, StepLog, append_episode
from rlem.policies.base import Decision, Policy, Situation, followed_advice
from rlem.policies.factory import make_policy


class SessionError(RlemError):
    """A session call out of order or with bad arguments; nothing was changed."""


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
        limit = self.agent.config.max_steps
        return limit is not None and len(self.steps) >= limit

    def act(self, observation: str, actions: Sequence[str]) -> str:
        """The agent's action in `observation`, one of `actions`."""
        return self.agent.act_many([(self, observation, actions)])[0]

    def reward(self, reward: float, *, action: str | None = None) -> None:
        """The reward for the last action; `action` if the caller took another of the offered ones."""
        if self.ended:
            raise SessionError(f"episode {self.key} has ended: begin a new one")
        if self.asked is None:
            raise SessionError(f"episode {self.key}: reward() follows act(); no action awaits a reward")
        if not isinstance(reward, (int, float)) or not np.isfinite(reward):
            raise SessionError(f"episode {self.key}: a reward is a finite number, got {reward!r}")
        observation, offered = self.asked
        decision = self.decisions[-1]
        taken = decision.action if action is None else action
        if taken not in offered:
            raise SessionError(
                f"episode {self.key}: {taken!r} is not one of the actions offered: {list(offered)}"
            )
        if taken != decision.action:
            decision = Decision(taken, "taken by the caller", explored=True)
            self.decisions[-1], self.advice[-1] = decision, None
        self.steps.append(StepLog(observation=observation, available_actions=list(offered), action=taken,
                                  reason=decision.reason, reward=float(reward)))  # fmt: skip
        self.pending = self.learner is not None
        self.asked = None

    def feed(self, next_observation: str, *, done: bool) -> None:
        """Hand the awaited transition to the learning rule now that its next observation is known."""
        learning = self.agent.learning
        if self.pending and self.learner is not None and learning is not None:
            seq = learning.observe(self.learner, self.steps[-1].transition(), next_observation, done=done)
            self.steps[-1] = self.steps[-1].model_copy(update={"seq": seq})
        self.pending = False

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
    ):
        self.config, self.policy, self.store, self.learning = config, policy, store, learning
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
        """Open the memory and build the policy (`policy` to bring your own).

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
                       learning=learning, hooks=hooks)  # fmt: skip
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
    ) -> Episode:
        """Start an episode of `task`; `training` ones write to the memory, evaluation ones do not.

        `deterministic`: the environment's actions always have the same outcome, so an action that
        left the observation unchanged is not offered again in the episode.
        """
        if not isinstance(task, str) or not task:
            raise SessionError("an episode's task is a non-empty string")
        self.counter += 1
        key = key or f"episode-{self.counter}"
        if key in self.open_episodes:
            raise SessionError(f"episode {key} is already open: give another key")
        learner = self.learning.learner(task) if training and self.learning is not None else None
        episode = Episode(agent=self, task=task, training=training, key=key, seed=seed, env=env,
                          deterministic=deterministic, learner=learner)  # fmt: skip
        self.open_episodes[key] = episode
        return episode

    def act_many(self, requests: Sequence[tuple[Episode, str, Sequence[str]]]) -> list[str]:
        """One action per (episode, observation, actions), decided in one policy batch per mode."""
        checked = [check_request(episode, observation, actions) for episode, observation, actions in requests]
        if len({id(episode) for episode, _, _ in checked}) != len(checked):
            raise SessionError("act_many takes each episode once per call")
        for episode, observation, _ in checked:
            episode.feed(observation, done=False)
        situations = [
            self.viewer.situation(
                episode.task,
                observation,
                choices(episode.steps, observation, actions, deterministic=episode.deterministic),
                tuple(step.action for step in episode.steps),
            )
            for episode, observation, actions in checked
        ]
        decisions = self.decide(situations, [episode.training for episode, _, _ in checked])
        for (episode, observation, actions), situation, decision in zip(
            checked, situations, decisions, strict=True
        ):
            episode.decisions.append(decision)
            episode.advice.append(followed_advice(situation, decision))
            episode.asked = (observation, actions)
        return [decision.action for decision in decisions]

    def decide(self, situations: list[Situation], training: list[bool]) -> list[Decision]:
        """Exploring draws, then one batched policy call per mode for the rest (training, evaluation)."""
        decisions: list[Decision | None] = [None] * len(situations)
        explore = self.config.explore
        for i, (situation, trains) in enumerate(zip(situations, training, strict=True)):
            if trains and explore and self.rng.random() < explore:
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

    def close(self, *, save_index: bool = True) -> None:
        """End open episodes as truncated, then release the policy and the memory."""
        try:
            if save_index:
                for episode in list(self.open_episodes.values()):
                    if episode.asked is not None:  # its last action got no reward: not a transition
                        episode.asked = None
                        episode.decisions.pop()
                        episode.advice.pop()
                    observation = episode.steps[-1].observation if episode.steps else ""
                    episode.end(observation)
        finally:
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
        raise SessionError(
            f"episode {episode.key} reached max_steps={episode.agent.config.max_steps}: end() it"
        )
    if not isinstance(observation, str):
        raise SessionError(
            f"episode {episode.key}: the observation is text, got a {type(observation).__name__}"
        )
    if isinstance(actions, str) or not all(isinstance(a, str) and a for a in actions):
        raise SessionError(f"episode {episode.key}: actions are a list of non-empty strings")
    options = tuple(dict.fromkeys(actions))
    if not options:
        raise SessionError(f"episode {episode.key}: no admissible action to choose from")
    return episode, observation, options


def open_memory(config: AgentConfig) -> ExperienceStore | None:
    """The agent's memory: its namespace, the fixed exemplars of `static`, or none (`off`)."""
    if config.memory == "off":
        return None
    retrieval_text = config.retrieval_text or "task+observation"
    if config.memory == "rlem":
        return ExperienceStore.open(
            StoreConfig(url=config.db, namespace=config.namespace, retrieval_text=retrieval_text)
        )
    if config.static is None:
        raise SessionError("--memory static takes its exemplars from --static FILE")
    # One namespace per file content: the same file is imported once, a changed one anew.
    digest = hashlib.sha256(config.static.read_bytes()).hexdigest()[:12]
    store = ExperienceStore.open(
        StoreConfig(url=config.db, namespace=static_name(config.namespace, digest, retrieval_text),
                    retrieval_text=retrieval_text),
        internal=True,
    )  # fmt: skip
    if len(store) == 0:
        store.put(read_memory_file(config.static, config.static_format))
    return store


def trajectory_writer(path: Path) -> EndHook:
    """A hook appending each ended training episode to the trajectory log at `path`."""

    def write(result: EpisodeResult, size: int | None) -> None:
        if result.training:
            append_episode(path, result.log)

    return write
