"""Memory bandwidth measured on the spot, and the time it bounds an exhaustive scan to."""

from __future__ import annotations

import time

import numpy as np


def copy_bandwidth_gbs(mib: int, repeats: int = 5) -> float:
    """One thread's copy bandwidth in GB/s, counted as bytes read plus bytes written, best of `repeats`.

    The buffers should be far larger than the last-level cache, so that the copy streams from memory.
    """
    source = np.ones(mib * 2**20 // 4, dtype=np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch every page before timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best / 1e9


def scan_bound_ms(states: int, dim: int, bandwidth_gbs: float) -> float:
    """The least time to read every float32 vector of a flat index once at `bandwidth_gbs`."""
    return states * dim * 4 / (bandwidth_gbs * 1e9) * 1000
