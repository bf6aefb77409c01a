"""CliffWalking (`CliffWalking-v1`) in words, with a step limit (gymnasium's has none).

A 4x12 grid: start at the bottom left, goal at the bottom right, the cliff between them. Each
step costs 1; stepping off the cliff costs 100 and returns you to the start. Spec:
`cliffwalking[:STEPS]` (default 200 steps).
"""

from __future__ import annotations

import gymnasium as gym

from envs.toy_text import ToyText

ROWS, COLUMNS = 4, 12
GOAL = (3, 11)


class CliffWalking(ToyText):
    """CliffWalking-v1 with its own text and a step limit."""

    deterministic = True

    actions = ("move up", "move right", "move down", "move left")

    def __init__(self, step_limit: int = 200):
        super().__init__(gym.make("CliffWalking-v1", max_episode_steps=step_limit))
        self.spec = f"cliffwalking:{step_limit}"

    @property
    def task(self) -> str:
        """The goal and the costs."""
        return (
            "Walk from the start S (row 4, column 1) to the goal G (row 4, column 12) along a cliff. "
            "The cells C of row 4 between them are the cliff: stepping there costs 100 points and sends "
            "you back to the start. Every step costs 1 point."
        )

    def succeeded(self, reward: float, terminated: bool) -> bool:
        """Reaching the goal ends the episode; nothing else does."""
        return terminated

    def describe(self) -> str:
        """Where the agent is, in words and on the grid (marked A)."""
        row, col = divmod(int(self.state), COLUMNS)
        lines = []
        for r in range(ROWS):
            cells = []
            for c in range(COLUMNS):
                if (r, c) == (row, col):
                    cells.append("A")
                elif r == ROWS - 1:
                    cells.append("S" if c == 0 else "G" if c == COLUMNS - 1 else "C")
                else:
                    cells.append(".")
            lines.append("".join(cells))
        return f"You are at row {row + 1}, column {col + 1}.\n" + "\n".join(lines)


def from_spec(arguments: list[str]) -> CliffWalking:
    """An optional step limit."""
    if len(arguments) > 1 or (arguments and not arguments[0].isdigit()):
        raise ValueError(f"cliffwalking takes an optional step limit, got {arguments}")
    return CliffWalking(int(arguments[0]) if arguments else 200)
