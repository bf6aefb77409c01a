"""The learning write path of one memory: its Q table(s), whose turn the next update is, the order
in which updates were applied, and the run journal. Sessions, `rlem run` and replay all write
through a `Learning`; nothing else applies the rule to a memory.

Order: every transition fed to the rule and every episode end takes the next sequence number
(`seq`), and the trajectory log records it (`StepLog.seq`, `EpisodeLog.seq`). A bootstrapped
update reads the memory as the updates before it left it, so replay follows these numbers, not
the order of the log's lines: episodes that ran side by side replay exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from memory_store import ExperienceStore
from memory_store.names import second_table
from memory_store.transaction import StoreTransaction
from rlem.errors import RlemError
from rlem.learning.journal import record_episode
from rlem.learning.qlearning import EpisodeLearner, Rule, Step, Tables
from rlem.learning.trajectory import EpisodeLog


@dataclass(kw_only=True)
class Learning:
    """Writes one memory's learning updates: live transitions, episode ends, and replay."""

    store: ExperienceStore
    rule: Rule
    second: ExperienceStore | None = None
    # The run whose ended episodes get a journal row in their final transaction, if any.
    journal: str | None = None
    live: Tables = field(init=False)
    seq: int = 0

    def __post_init__(self) -> None:
        self.live = Tables([self.store] if self.second is None else [self.store, self.second])

    @classmethod
    def open(cls, store: ExperienceStore, rule: Rule, *, journal: str | None = None) -> Learning:
        """The write path of `store` under `rule`, opening the second Q table under double Q."""
        second = (
            store.open_sibling(second_table(store.namespace.name), internal=True) if rule.double_q else None
        )
        return cls(store=store, rule=rule, second=second, journal=journal)

    def resume(self, logged: Sequence[EpisodeLog]) -> None:
        """Go on after the committed episodes of a trajectory log: each logged step was one update
        (double Q alternates tables per update), numbered up to the log's largest `seq`."""
        seqs = [s for e in logged for s in (e.seq, *(step.seq for step in e.steps)) if s is not None]
        self.live.turn, self.seq = sum(len(e.steps) for e in logged), max(seqs, default=0)

    def tick(self) -> int:
        """The next sequence number."""
        self.seq += 1
        return self.seq

    def learner(self, task: str) -> EpisodeLearner:
        """A new episode's learner."""
        return EpisodeLearner(task, self.rule)

    def observe(self, learner: EpisodeLearner, step: Step, next_observation: str, *, done: bool) -> int:
        """Feed one transition; an update it makes due is applied now. Returns its sequence number."""
        learner.observe(self.live, step, next_observation, done)
        return self.tick()

    def observe_many(self, fed: Sequence[tuple[EpisodeLearner, Step, str]], *, done: bool) -> list[int]:
        """Feed one transition of each of several episodes, in order, the updates they make due in one
        transaction (each reads the memory as the ones before it left it, as if fed one by one).
        Returns their sequence numbers."""
        if len(fed) == 1:
            return [self.observe(*fed[0], done=done)]
        marks = [len(learner.steps) for learner, _, _ in fed]

        def work(tx: StoreTransaction) -> int:
            tables = self.tables(tx, self.live.turn)
            for (learner, step, next_observation), mark in zip(fed, marks, strict=True):
                del learner.steps[mark:]  # a retried transaction feeds the step again
                learner.observe(tables, step, next_observation, done)
            return tables.turn

        self.live.turn = self.store.transaction(work)
        return [self.tick() for _ in fed]

    def tables(self, tx: StoreTransaction, turn: int) -> Tables:
        """The Q table(s) seen through one transaction, the next update being number `turn`."""
        return Tables([tx] if self.second is None else [tx, tx.sibling(self.second)], turn=turn)

    def end(
        self,
        learner: EpisodeLearner,
        *,
        key: str | None = None,
        before_commit: Callable[[int, int], None] | None = None,
    ) -> int:
        """The episode's remaining updates (and its journal row, under `key`) in one transaction.

        `before_commit(memory_size, seq)` runs once inside it, before the commit: files written
        there exist whenever the updates do. Returns the end's sequence number.
        """
        seq, written = self.tick(), []

        def work(tx: StoreTransaction) -> int:
            tables = self.tables(tx, self.live.turn)
            learner.finish(tables)
            if self.journal is not None and key is not None:
                record_episode(tx, self.journal, key)
            if before_commit is not None and not written:  # a retried transaction writes once
                before_commit(len(tx), seq)
                written.append(True)
            return tables.turn

        self.live.turn = self.store.transaction(work)
        return seq

    def replay(self, episodes: Sequence[EpisodeLog], on_episode: Callable[[int], None] | None = None) -> None:
        """Apply logged episodes as they were applied live: in sequence order where the log has
        it, else episode after episode in file order. Each episode end commits a transaction."""
        events = replay_order(episodes)
        learners: dict[int, EpisodeLearner] = {}
        batch: list[tuple[int, int]] = []
        ended = 0
        for number, t in events:
            batch.append((number, t))
            if t < len(episodes[number].steps):
                continue

            def work(
                tx: StoreTransaction, batch: list[tuple[int, int]] = batch, turn: int = self.live.turn
            ) -> int:
                tables = self.tables(tx, turn)
                for n, step in batch:
                    episode = episodes[n]
                    learner = learners.setdefault(n, self.learner(episode.task))
                    if step == len(episode.steps):
                        learner.finish(tables)
                    else:
                        del learner.steps[step:]  # a retried transaction feeds the step again
                        feed_step(learner, tables, episode, step)
                return tables.turn

            self.live.turn = self.store.transaction(work)
            learners.pop(number)
            batch, ended = [], ended + 1
            if on_episode is not None:
                on_episode(ended)

    def close(self, *, save_index: bool = True) -> None:
        """Close the second Q table (the first is the caller's store)."""
        if self.second is not None:
            self.second.close(save_index=save_index)


def replay(
    store: ExperienceStore,
    episodes: Sequence[EpisodeLog],
    rule: Rule,
    on_episode: Callable[[int], None] | None = None,
) -> None:
    """Apply logged episodes to `store` under `rule` as they were applied live (`Learning.replay`)."""
    learning = Learning.open(store, rule)
    try:
        learning.replay(episodes, on_episode)
    finally:
        learning.close()


def feed_step(learner: EpisodeLearner, tables: Tables, episode: EpisodeLog, t: int) -> None:
    """Feed step t of a logged episode to its learner."""
    step = episode.steps[t]
    last = t + 1 == len(episode.steps)
    next_observation = episode.final_observation if last else episode.steps[t + 1].observation
    learner.observe(tables, step.transition(), next_observation, done=last)


def replay_order(episodes: Sequence[EpisodeLog]) -> list[tuple[int, int]]:
    """(episode number, step t) in the order they were fed live; t == len(steps) is the episode's end."""
    numbered = [
        episode.seq is not None and all(s.seq is not None for s in episode.steps) for episode in episodes
    ]
    if any(numbered) and not all(numbered):
        raise RlemError(
            "the log mixes episodes with and without sequence numbers: replay logs of one kind at a time"
        )
    if not all(numbered):
        return [(n, t) for n, episode in enumerate(episodes) for t in range(len(episode.steps) + 1)]
    keyed = [
        (seq, n, t)
        for n, episode in enumerate(episodes)
        for t, seq in enumerate([*(s.seq for s in episode.steps), episode.seq])
    ]
    if len({seq for seq, _, _ in keyed}) != len(keyed):
        raise RlemError(
            "the log repeats a sequence number: replay one run's log, or logs of runs one at a time"
        )
    return [(n, t) for _, n, t in sorted(keyed)]
