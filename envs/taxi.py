"""Taxi (`Taxi-v4`) in words: fetch the passenger and drop them at their destination.

Each step costs 1; a pickup or dropoff in the wrong place costs 10; delivering earns 20 and ends
the episode (success). Spec: `taxi`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from envs.base import Observation
from envs.toy_text import ToyText

# gymnasium's depot letters and their (row, column).
DEPOTS = {"R": (0, 0), "G": (0, 4), "Y": (4, 0), "B": (4, 3)}
NAMES = ("R", "G", "Y", "B")
# The city map: `|` is a wall between two cells, `:` an open side.
MAP = ["|R: | : :G|", "| : | : : |", "| : : : : |", "| | : | : |", "|Y| : |B: |"]


class Taxi(ToyText):
    """Taxi-v4 with its own text."""

    deterministic = True

    spec = "taxi"
    actions = (
        "drive south",
        "drive north",
        "drive east",
        "drive west",
        "pick up passenger",
        "drop off passenger",
    )

    def __init__(self) -> None:
        super().__init__(gym.make("Taxi-v4"))
        self.start: tuple[int, int, int, int] = (0, 0, 0, 0)

    def decode(self) -> tuple[int, int, int, int]:
        """(taxi row, taxi column, passenger location 0-3 or 4 in the taxi, destination 0-3)."""
        row, col, passenger, destination = self.env.unwrapped.decode(int(self.state))
        return int(row), int(col), int(passenger), int(destination)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Observation:
        """Start an episode; the task names where the passenger waits and wants to go."""
        super().reset(seed=seed, options=options)
        self.start = self.decode()
        return self.observe()

    @property
    def task(self) -> str:
        """The passenger's pickup depot and destination, the rules and the map."""
        _, _, passenger, destination = self.start
        return (
            f"Drive the taxi to the passenger waiting at depot {NAMES[passenger]}, pick them up, and drop "
            f"them off at depot {NAMES[destination]}. Every move costs 1 point, a pickup or dropoff in the "
            "wrong place costs 10, and delivering the passenger earns 20. City map (rows 1-5 from the top, "
            "columns 1-5 from the left; | is a wall, : an open side):\n" + "\n".join(MAP)
        )

    def describe(self) -> str:
        """Where the taxi and the passenger are."""
        row, col, passenger, destination = self.decode()
        where = "in the taxi" if passenger == 4 else f"waiting at depot {NAMES[passenger]}"
        depot = next((name for name, spot in DEPOTS.items() if spot == (row, col)), None)
        at = f", at depot {depot}" if depot else ""
        return (
            f"The taxi is at row {row + 1}, column {col + 1}{at}. "
            f"The passenger is {where} and wants to go to depot {NAMES[destination]}."
        )
