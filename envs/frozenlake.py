"""FrozenLake from gymnasium's toy-text, told in words: the map, where the agent is, what moves do.

Specs: `frozenlake:4x4`, `frozenlake:8x8`, with `:slippery` for gymnasium's slippery ice,
`:random` for a new random map per seed (the map is then part of the task text, so memories
transfer between similar situations, not only identical ones), and a number for the step limit
(default 100 on 4x4, 200 on 8x8), e.g. `frozenlake:4x4:random:20`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.envs.toy_text.frozen_lake import MAPS, generate_random_map

from envs.base import Observation
from envs.toy_text import ToyText

SIZES = {"4x4": 4, "8x8": 8}
STEP_LIMITS = {4: 100, 8: 200}
CELLS = {"S": "the start", "F": "frozen ice", "H": "a hole", "G": "the goal"}


class FrozenLake(ToyText):
    """FrozenLake with its own text for every state."""

    actions = ("move left", "move down", "move right", "move up")

    def __init__(
        self, size: int = 4, slippery: bool = False, random_map: bool = False, step_limit: int | None = None
    ):
        self.size, self.slippery, self.random_map = size, slippery, random_map
        self.step_limit = step_limit or STEP_LIMITS[size]
        flags = (":slippery" if slippery else "") + (":random" if random_map else "")
        self.spec = f"frozenlake:{size}x{size}{flags}:{self.step_limit}"
        # Each seed's map is in the task; the same surroundings on another map are the same situation.
        self.retrieval_text = "observation" if random_map else "task+observation"
        # On slippery ice pushing against a wall is often the safe move, and it may leave you put.
        self.deterministic = not slippery
        self.rows: list[str] = list(MAPS[f"{size}x{size}"])
        super().__init__(self.make(self.rows))

    def make(self, rows: list[str]) -> gym.Env:
        """The gymnasium environment for a map, with the standard step limit."""
        return gym.make(
            "FrozenLake-v1", desc=rows, is_slippery=self.slippery, max_episode_steps=self.step_limit
        )

    @property
    def task(self) -> str:
        """The goal, the ice, and the map."""
        ice = (
            "The ice is slippery: a move may slide you to either side." if self.slippery else "The ice holds."
        )
        # The legend comes before the map: text every map shares is a prompt prefix computed once
        # per batch (rlem/policies/backends/scoring.py).
        return (
            "Walk on the frozen lake from the start S to the goal G without stepping into a hole H. "
            f"{ice} Map, row 1 at the top (S start, F frozen ice, H hole, G goal):\n" + "\n".join(self.rows)
        )

    def describe(self) -> str:
        """Where the agent is, what lies one step in each direction, and where the goal is."""
        row, col = divmod(int(self.state), self.size)
        around = []
        for move, (dr, dc) in zip(self.actions, ((0, -1), (1, 0), (0, 1), (-1, 0)), strict=True):
            r, c = row + dr, col + dc
            inside = 0 <= r < self.size and 0 <= c < self.size
            around.append(f"{move.split()[1]}: {CELLS[self.rows[r][c]] if inside else 'the edge'}")
        goal_row, goal_col = next((r, line.index("G")) for r, line in enumerate(self.rows) if "G" in line)
        # Relative words, and no map here (the task has it), make the same situation read alike
        # on different maps, so its memories transfer between them.
        return (
            f"You are at row {row + 1}, column {col + 1}, on {CELLS[self.rows[row][col]]}. "
            f"Around you: {', '.join(around)}. The goal is {goal_row - row} rows down and "
            f"{goal_col - col} columns right."
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """Start an episode; with random maps, the seed picks the map."""
        if self.random_map:
            self.env.close()
            self.rows = generate_random_map(size=self.size, seed=seed)
            self.env = self.make(self.rows)
        return super().reset(seed=seed, options=options)


def from_spec(arguments: list[str]) -> FrozenLake:
    """`4x4` or `8x8` (default 4x4), then any of `slippery`, `random` and a step limit."""
    size = SIZES.get(arguments[0]) if arguments else 4
    flags = set(arguments[1:] if arguments and arguments[0] in SIZES else arguments)
    limits = [int(flag) for flag in flags if flag.isdigit() and int(flag) > 0]
    if size is None or len(limits) > 1 or flags - {"slippery", "random"} - {str(n) for n in limits}:
        raise ValueError(
            f"frozenlake takes a size (4x4, 8x8), slippery, random and a step limit; got {arguments}"
        )
    return FrozenLake(size, "slippery" in flags, "random" in flags, limits[0] if limits else None)
