"""Double Q-learning over the memory: the second table's namespace, and retrieval that merges both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from memory_store import ActionRecord, ExperienceRecord, ExperienceStore, Retrieved


def merge_actions(a: Sequence[ActionRecord], b: Sequence[ActionRecord]) -> tuple[ActionRecord, ...]:
    """One state's actions across both tables: Q and reward averaged where both have one, visits summed."""
    merged = {x.action: x for x in a}
    for y in b:
        x = merged.get(y.action)
        merged[y.action] = (
            y
            if x is None
            else ActionRecord(
                x.action,
                x.reason or y.reason,
                (x.q + y.q) / 2,
                (x.reward + y.reward) / 2,
                x.visits + y.visits,
            )
        )
    return tuple(merged.values())


def merge_states(a: ExperienceRecord, b: ExperienceRecord) -> ExperienceRecord:
    """One state as both tables hold it: visits summed, actions merged (`merge_actions`)."""
    return replace(a, visits=a.visits + b.visits, actions=merge_actions(a.actions, b.actions))


def merge_retrieved(first: Sequence[Retrieved], second: Sequence[Retrieved], k: int) -> list[Retrieved]:
    """The k most similar states across both tables, one entry per (task, observation)."""
    by_state: dict[tuple[str, str], Retrieved] = {}
    for hit in [*first, *second]:
        key = (hit.experience.task, hit.experience.observation)
        seen = by_state.get(key)
        by_state[key] = (
            hit
            if seen is None
            else Retrieved(
                max(seen.similarity, hit.similarity), merge_states(seen.experience, hit.experience)
            )
        )
    ranked = sorted(by_state.values(), key=lambda r: -r.similarity)
    return ranked[:k]


def same_situation(
    store: ExperienceStore, second: ExperienceStore | None, task: str, observation: str
) -> list[ExperienceRecord]:
    """The stored states that read as (task, observation) (`ExperienceStore.same_situation`), each
    merged across both Q tables under double Q (`second` is the second table, or None)."""
    found = store.same_situation(task, observation)
    if second is None:
        return found
    by_state = {(r.task, r.observation): r for r in found}
    for record in second.same_situation(task, observation):
        key = (record.task, record.observation)
        by_state[key] = record if key not in by_state else merge_states(by_state[key], record)
    return list(by_state.values())


def retrieve(
    store: ExperienceStore, second: ExperienceStore | None, task: str, observation: str, k: int
) -> list[Retrieved]:
    """What the agent shows its policy: the k states most similar to (task, observation), merged
    across both Q tables under double Q (`second` is the second table, or None)."""
    vector = store.embed(task, observation)
    hits = store.nearest(vector, k)
    return hits if second is None else merge_retrieved(hits, second.nearest(vector, k), k)
