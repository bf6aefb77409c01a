"""How a stored estimate moves toward a new sample: a running mean over visits, or a constant rate."""

from __future__ import annotations

from enum import StrEnum


class Averaging(StrEnum):
    """`mean`: the average of every sample so far. `const`: x <- x + lr * (sample - x)."""

    MEAN = "mean"
    CONST = "const"


def blend(current: float, sample: float, visits: int, mode: Averaging, lr: float) -> float:
    """The estimate after one more sample, given how many samples `current` already averages."""
    if mode is Averaging.MEAN:
        return current + (sample - current) / (visits + 1)
    return current + lr * (sample - current)
