"""`rlem demo`: a store round trip on the embedded default (until `rlem run` exists).

Three short episodes on a text corridor are written to the memory as Monte Carlo updates; then a
state the memory has never seen is looked up, and the retrieved experiences and their Q values
are shown: the same path an agent takes before every action.
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from memory_store import ExperienceStore, StoreConfig, Update
from memory_store.config import DEFAULT_URL
from rlem.cli.console import console
from rlem.cli.options import DbOption, NamespaceOption

TASK = "Walk along the corridor to the door at cell 4. Actions: left, right."
# (cells visited, actions taken); reaching cell 4 pays 1, every other step 0.
EPISODES = [
    ([0, 1, 2, 3], ["right", "right", "right", "right"]),
    ([0, 1, 0, 1, 2], ["right", "left", "right", "right", "left"]),
    ([2, 3, 2, 3], ["right", "left", "right", "right"]),
]


def observation(cell: int) -> str:
    """Where the agent stands, in words."""
    steps = 4 - cell
    plural = "s" if steps != 1 else ""
    return (
        f"You stand in cell {cell} of a corridor of 5 cells. The door is {steps} step{plural} to your right."
    )


def episode_updates(cells: list[int], actions: list[str]) -> list[Update]:
    """Monte Carlo updates (gamma 1) for one episode."""
    positions = [*cells, cells[-1] + (1 if actions[-1] == "right" else -1)]
    rewards = [1.0 if positions[t + 1] == 4 else 0.0 for t in range(len(actions))]
    updates = []
    for t, (cell, action) in enumerate(zip(cells, actions, strict=True)):
        updates.append(
            Update(
                task=TASK,
                observation=observation(cell),
                action=action,
                target=sum(rewards[t:]),
                reward=rewards[t],
                available_actions=("left", "right"),
                last_reward=rewards[t - 1] if t else 0.0,
                total_reward=sum(rewards[:t]),
                action_history=tuple(actions[:t]),
            )
        )
    return updates


def demo(db: DbOption = DEFAULT_URL, namespace: NamespaceOption = "demo", k: int = 3) -> None:
    """Write three episodes to the memory, retrieve for an unseen state, and show what comes back."""
    with ExperienceStore.open(StoreConfig(url=db, namespace=namespace)) as store:
        for cells, actions in EPISODES:
            store.apply(episode_updates(cells, actions))
        console.print(
            f"memory {namespace} in {store.db.display_url}: "
            f"{len(store)} states, {store.action_count()} action values",
            markup=False,
        )
        query = observation(3) + " A lamp hangs on the wall."
        table = Table(title=escape(f"top {k} for an unseen state: {query!r}"))
        for column in ("similarity", "observation", "visits", "actions (Q, visits)"):
            table.add_column(column)
        for hit in store.top_k(TASK, query, k=k):
            exp = hit.experience
            actions = ", ".join(f"{a.action} ({a.q:.2f}, {a.visits})" for a in exp.actions)
            table.add_row(f"{hit.similarity:.3f}", escape(exp.observation), str(exp.visits), escape(actions))
        console.print(table)
        if store.index_file is not None:
            console.print(f"FAISS index saved to {store.index_file.path}", markup=False)
