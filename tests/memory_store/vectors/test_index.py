"""The FAISS wrapper: exact and HNSW search, removal, shape checks, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from memory_store.errors import InvalidArgument, InvalidVector
from memory_store.vectors.index import VectorIndex


def unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return ids[order].tolist()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_search_finds_the_most_similar_ids(kind):
    rng = np.random.default_rng(0)
    vectors, ids = unit(rng, 300), np.arange(1000, 1300)
    index = VectorIndex(16, kind)
    index.add(ids, vectors)
    query = unit(rng, 1)
    sims, found = index.search(query, 5)
    assert found[0].tolist() == brute_force(vectors, ids, query[0], 5)
    assert sims[0] == pytest.approx(np.sort(vectors @ query[0])[::-1][:5], abs=1e-5)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_removed_ids_never_come_back(kind):
    rng = np.random.default_rng(1)
    vectors, ids = unit(rng, 100), np.arange(100)
    index = VectorIndex(16, kind)
    index.add(ids, vectors)
    gone = np.arange(0, 100, 3)
    index.remove(gone)
    assert len(index) == 100 - len(gone)
    assert np.array_equal(index.ids(), np.setdiff1d(ids, gone))
    _, found = index.search(vectors[gone], 10)
    assert not np.isin(found, gone).any()


def test_hnsw_compacts_after_many_removals():
    rng = np.random.default_rng(2)
    index = VectorIndex(16, "hnsw")
    index.add(np.arange(50), unit(rng, 50))
    index.remove(np.arange(20))
    assert index.masked == set()
    assert index.index.ntotal == 30


def test_results_are_padded_when_fewer_than_k_are_stored():
    index = VectorIndex(16)
    sims, ids = index.search(np.ones((1, 16), np.float32), 3)
    assert ids.tolist() == [[-1, -1, -1]]
    index.add(np.array([7]), np.ones((1, 16), np.float32))
    sims, ids = index.search(np.ones((1, 16), np.float32), 3)
    assert ids.tolist() == [[7, -1, -1]]
    assert sims[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("ids", "vectors", "message"),
    [
        (np.arange(2), np.ones((2, 8), np.float32), r"shape \(n, 16\), got shape \(2, 8\)"),
        (np.arange(2), np.ones(16, np.float32), r"got shape \(16,\)"),
        (np.arange(2), np.ones((2, 16), np.int32), "floating-point"),
        (np.arange(2), np.full((2, 16), np.inf, np.float32), "NaN or infinite"),
        (np.arange(3), np.ones((2, 16), np.float32), "expected 2 integer ids"),
        (np.array([-1, 2]), np.ones((2, 16), np.float32), "non-negative"),
    ],
)
def test_bad_batches_are_refused_and_nothing_is_added(ids, vectors, message):
    index = VectorIndex(16)
    with pytest.raises(InvalidVector, match=message):
        index.add(ids, vectors)
    assert len(index) == 0


def test_unknown_kind_and_bad_k_are_refused():
    with pytest.raises(InvalidArgument, match="unknown index kind 'ivf'"):
        VectorIndex(16, "ivf")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="k must be positive"):
        VectorIndex(16).search(np.ones((1, 16), np.float32), 0)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_serialisation_round_trips_and_checks_the_kind(kind):
    rng = np.random.default_rng(3)
    index = VectorIndex(16, kind)
    index.add(np.arange(40), unit(rng, 40))
    index.remove(np.array([5]))
    data = index.to_bytes()
    loaded = VectorIndex.from_bytes(data, 16, kind)
    assert np.array_equal(loaded.ids(), index.ids())
    query = unit(rng, 1)
    assert loaded.search(query, 4)[1].tolist() == index.search(query, 4)[1].tolist()
    other = "hnsw" if kind == "flat" else "flat"
    with pytest.raises(InvalidVector, match=f"not a {other} index"):
        VectorIndex.from_bytes(data, 16, other)
    with pytest.raises(InvalidVector, match="dimension 32"):
        VectorIndex.from_bytes(data, 32, kind)
