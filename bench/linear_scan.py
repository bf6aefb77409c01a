"""The paper's way of retrieving, as a baseline: score every stored key in a Python loop, sort them all.

REMEMBERER's history replay (OpenDFM/Rememberer, `history.py`, `HistoryReplay.__getitem__`) calls a
matcher on each stored key, sorts every (key, record, score) by score and then by the record's
total action visits, highest first, and the agent takes the first k candidates. This module redoes
that algorithm over the unit embeddings a FAISS index holds, with the dot product as the matcher
(the paper's dense matcher is `dot_score` of normalised sentence embeddings). The paper's dense
matcher also re-encodes every stored key on each query; that is left out here, so this loop is
faster than the original and a speedup over it understates the one over the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.synthetic import ACTIONS


@dataclass(frozen=True)
class Record:
    """One stored state as the paper's memory holds it: its key's embedding and per-action visits."""

    embedding: np.ndarray
    action_visits: dict[str, int]


def similarity(query: np.ndarray, record: Record) -> float:
    """The matcher: cosine similarity as the dot product of unit vectors, one key at a time."""
    return float(np.dot(query, record.embedding))


class LinearMemory:
    """A dict of records searched by scoring every key and sorting, as the paper does."""

    def __init__(self, vectors: np.ndarray):
        # Every synthetic state holds the same actions, visited once each (as bench.synthetic fills them).
        self.records: dict[int, Record] = {
            i: Record(vector, dict.fromkeys(ACTIONS, 1)) for i, vector in enumerate(vectors)
        }

    def ranked(self, query: np.ndarray) -> list[tuple[int, Record, float]]:
        """Every (key, record, score), best first: by score, then by the record's total visits."""
        scores = [similarity(query, record) for record in self.records.values()]
        return sorted(
            zip(self.records.keys(), self.records.values(), scores, strict=True),
            key=lambda item: (item[2], sum(item[1].action_visits.values())),
            reverse=True,
        )

    def search(self, query: np.ndarray, k: int) -> list[int]:
        """The keys of the first k candidates."""
        return [key for key, _, _ in self.ranked(query)[:k]]
