"""Offline replay: apply logged episodes to the memory exactly as the live run would have."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from memory_store import ExperienceStore
from memory_store.transaction import StoreTransaction
from rlem.double_q import second_table
from rlem.qlearning import EpisodeLearner, Rule, Step, Tables
from rlem.trajectory import EpisodeLog


def transaction_tables(tx: StoreTransaction, second: ExperienceStore | None, turn: int) -> Tables:
    """The Q table(s) seen through one transaction: the namespace, and under double Q its second table."""
    return Tables([tx] if second is None else [tx, tx.sibling(second)], turn=turn)


def feed(tables: Tables, episode: EpisodeLog, rule: Rule) -> None:
    """Run one logged episode through the learner against `tables`."""
    learner = EpisodeLearner(episode.task, rule)
    for t, step in enumerate(episode.steps):
        last = t + 1 == len(episode.steps)
        next_observation = episode.final_observation if last else episode.steps[t + 1].observation
        transition = Step(
            step.observation, tuple(step.available_actions), step.action, step.reward, step.reason
        )
        learner.observe(tables, transition, next_observation, done=last)
    learner.finish(tables)


def replay(
    store: ExperienceStore,
    episodes: Sequence[EpisodeLog],
    rule: Rule,
    on_episode: Callable[[int], None] | None = None,
) -> None:
    """Apply episodes in order, each in one transaction (all of its updates or none)."""
    second = store.open_sibling(second_table(store.namespace.name), internal=True) if rule.double_q else None
    turn = 0
    try:
        for number, episode in enumerate(episodes, start=1):

            def work(tx: StoreTransaction, episode: EpisodeLog = episode, turn: int = turn) -> int:
                tables = transaction_tables(tx, second, turn)
                feed(tables, episode, rule)
                return tables.turn

            turn = store.transaction(work)
            if on_episode is not None:
                on_episode(number)
    finally:
        if second is not None:
            second.close()
