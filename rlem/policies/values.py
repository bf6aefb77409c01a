"""What the memory says each action is worth in the current situation, for deciding.

The prompt shows the k most similar stored states, each with its own values (`rlem.agent.exemplars`).
Deciding needs one value per action here, and similarity cannot say which stored states are this
situation: to MiniLM, "row 2, column 3" and "row 3, column 2" of one map read alike (a cosine of
0.999 and more on every toy-text environment), yet the same move means different things there.
So the values come from the states that stand for this one:

1. the stored states that read as this one, found by identity (`ExperienceStore.same_situation`):
   the state itself and, where retrieval reads the observation alone, the same observation in
   every other task (the same surroundings on another random map);
2. when none is stored, the most similar retrieved state and every one within `pool_margin` of
   its similarity: the memory's best guess for a situation it has not met.

Their values are pooled as if they were one state (`memory_store.pooled`: visit-weighted mean Q,
visits summed), and an action none of them tried is untried. The learning rule bootstraps from
the same states (`StoreTransaction.max_q`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from memory_store import ExperienceRecord, Retrieved, pooled

# Within this much cosine of the most similar state, a state stands in for an unmet situation: 0
# takes the most similar alone (and exact ties), since neighbouring states of the toy-text
# environments differ by 1e-4 to 1e-3 and mean other things.
DEFAULT_POOL_MARGIN = 0.0

Basis = Literal["same", "nearest", "none"]


@dataclass(frozen=True)
class ActionValues:
    """Per action, the pooled Q and visits of the states that stand for this situation.

    `basis` says which states those are: `same` (they read as this one), `nearest` (none does; the
    most similar stand in) or `none` (the memory has nothing); `states` how many.
    """

    q: dict[str, float] = field(default_factory=dict)
    visits: dict[str, int] = field(default_factory=dict)
    basis: Basis = "none"
    states: int = 0

    def untried(self, actions: Sequence[str]) -> list[str]:
        """The actions among `actions` that no standing state tried, in their order."""
        return [a for a in actions if a not in self.q]


def standing(
    same: Sequence[ExperienceRecord], retrieved: Sequence[Retrieved], margin: float
) -> tuple[list[ExperienceRecord], Basis]:
    """The states that stand for the situation, and on what basis (see the module docstring)."""
    if same:
        return list(same), "same"
    if not retrieved:
        return [], "none"
    top = max(hit.similarity for hit in retrieved)
    return [hit.experience for hit in retrieved if hit.similarity >= top - margin], "nearest"


def action_values(
    same: Sequence[ExperienceRecord],
    retrieved: Sequence[Retrieved],
    *,
    margin: float = DEFAULT_POOL_MARGIN,
) -> ActionValues:
    """Per action, the pooled Q and visits of the standing states."""
    states, basis = standing(same, retrieved, margin)
    values = pooled(states)
    return ActionValues(
        {a: v.q for a, v in values.items()}, {a: v.visits for a, v in values.items()}, basis, len(states)
    )
