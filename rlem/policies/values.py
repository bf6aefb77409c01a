"""What the memory says an action is worth here: Q pooled over the retrieved similar states."""

from __future__ import annotations

from collections.abc import Sequence

from memory_store import Retrieved


def pooled_q(retrieved: Sequence[Retrieved]) -> dict[str, float]:
    """Per action, the similarity-weighted mean Q over the retrieved states that tried it.

    Pooling matters when several stored states read alike (the same situation met in different
    tasks): each holds only the actions tried there, and together they know them all.
    """
    weights: dict[str, float] = {}
    totals: dict[str, float] = {}
    for hit in retrieved:
        # A negative cosine says "unlike", not "the opposite"; it still counts, barely.
        weight = max(hit.similarity, 1e-6)
        for value in hit.experience.actions:
            weights[value.action] = weights.get(value.action, 0.0) + weight
            totals[value.action] = totals.get(value.action, 0.0) + weight * value.q
    return {action: totals[action] / weights[action] for action in weights}


def pooled_visits(retrieved: Sequence[Retrieved]) -> dict[str, int]:
    """Per action, how often the retrieved similar states tried it, all together."""
    visits: dict[str, int] = {}
    for hit in retrieved:
        for value in hit.experience.actions:
            visits[value.action] = visits.get(value.action, 0) + value.visits
    return visits
