"""A small memory of two tasks (STATES) and the helper that writes it into a store."""

from __future__ import annotations

from memory_store import ExperienceStore, Update

TASK = "Sort the books in the library."


OTHER_TASK = "Water the plants in the greenhouse."


# observation: (task, [(action, target), ...]) applied in order; one update is one visit.
STATES = {
    "The reading room is quiet.": (TASK, [("read", 1.0), ("read", 0.5), ("shout", -1.0)]),
    "A cart full of returned books.": (TASK, [("shelve", 2.0), ("shelve", 1.0)]),
    "The archive door is locked.": (TASK, [("force the door", -1.0), ("knock", 0.0)]),
    "The ferns look dry.": (OTHER_TASK, [("water", 1.0)]),
}


def fill(store: ExperienceStore) -> dict[str, int]:
    """Write STATES into the store; return state ids by observation."""
    for observation, (task, steps) in STATES.items():
        for action, target in steps:
            store.apply([Update(task, observation, action, target=target, reward=target)])
    return {r.observation: r.id for r in store.records()}
