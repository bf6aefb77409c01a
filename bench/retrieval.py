"""Retrieval latency and recall: the FAISS index alone, and `ExperienceStore.nearest` end to end."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.machine import load_average
from bench.synthetic import fill_sqlite
from memory_store import ExperienceStore, StoreConfig
from memory_store.vectors.embedder import Embedder
from memory_store.vectors.index import INDEX_KINDS, IndexKind, VectorIndex

Advance = Callable[[int], None]
NAMESPACE = "bench"


@dataclass(frozen=True)
class RetrievalResult:
    """Latency of k-NN queries at one level, index kind and store size.

    `build_s` is the time to add every vector (index level) or to open the store, which loads
    every embedding from the database into a new index (store level). `recall_vs_flat` is the
    share of the flat results that the HNSW results contain (None for the flat rows). `load_avg_1m`,
    taken right after the queries, tells whether other work on the machine skewed the row.
    """

    level: str
    kind: str
    states: int
    k: int
    queries: int
    build_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    recall_vs_flat: float | None
    load_avg_1m: float | None

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


Search = Callable[[np.ndarray], list[int]]


def index_searcher(index: VectorIndex, k: int) -> Search:
    """One query through `VectorIndex.search`: the ids found."""
    return lambda query: index.search(query[None], k)[1][0].tolist()


def store_searcher(store: ExperienceStore, k: int) -> Search:
    """One query through `ExperienceStore.nearest`: the state ids found."""
    return lambda query: [r.experience.id for r in store.nearest(query, k)]


def timed_queries(
    search: Search, queries: np.ndarray, warmup: int, advance: Advance
) -> tuple[np.ndarray, list[list[int]]]:
    """Run each query once, one at a time: (latencies in ms, result ids per query)."""
    for query in queries[:warmup]:
        search(query)
    latencies = np.empty(len(queries))
    results: list[list[int]] = []
    for row, query in enumerate(queries):
        start = time.perf_counter()
        results.append(search(query))
        latencies[row] = (time.perf_counter() - start) * 1000
        advance(1)
    return latencies, results


def recall(found: Sequence[list[int]], truth: Sequence[list[int]], k: int) -> float:
    """Mean share of each true top-k found."""
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


def summarise(
    level: str,
    kind: IndexKind,
    states: int,
    k: int,
    build_s: float,
    latencies: np.ndarray,
    found: list[list[int]],
    flat: list[list[int]] | None,
) -> RetrievalResult:
    """One result row; recall is measured against the flat rows when given."""
    return RetrievalResult(
        level=level,
        kind=kind,
        states=states,
        k=k,
        queries=len(latencies),
        build_s=round(build_s, 3),
        p50_ms=round(float(np.percentile(latencies, 50)), 4),
        p99_ms=round(float(np.percentile(latencies, 99)), 4),
        mean_ms=round(float(latencies.mean()), 4),
        recall_vs_flat=None if flat is None else round(recall(found, flat, k), 4),
        load_avg_1m=load_average(),
    )


def bench_index(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    warmup: int,
    hnsw_m: int,
    ef_search: int,
    advance: Advance,
) -> list[RetrievalResult]:
    """`VectorIndex` add, then `search` one query at a time, for each index kind."""
    rows: list[RetrievalResult] = []
    flat: list[list[int]] | None = None
    for kind in INDEX_KINDS:
        index = VectorIndex(vectors.shape[1], kind, hnsw_m=hnsw_m, ef_search=ef_search, use_gpu=False)
        start = time.perf_counter()
        index.add(np.arange(len(vectors), dtype=np.int64), vectors)
        build_s = time.perf_counter() - start
        latencies, found = timed_queries(index_searcher(index, k), queries, warmup, advance)
        rows.append(summarise("index", kind, len(vectors), k, build_s, latencies, found, flat))
        flat = flat or found
    return rows


def bench_store(
    workdir: Path,
    vectors: np.ndarray,
    labels: np.ndarray,
    queries: np.ndarray,
    k: int,
    warmup: int,
    hnsw_m: int,
    ef_search: int,
    embedder: Embedder,
    advance_fill: Advance,
    advance: Advance,
) -> list[RetrievalResult]:
    """Fill a SQLite store in bulk, then time `ExperienceStore.nearest` for each index kind."""
    path = workdir / f"retrieval-{len(vectors)}.db"
    url = f"sqlite:///{path}"
    fill_sqlite(url, NAMESPACE, embedder.model_name, vectors, labels, advance_fill)
    rows: list[RetrievalResult] = []
    flat: list[list[int]] | None = None
    for kind in INDEX_KINDS:
        config = StoreConfig(
            url=url,
            namespace=NAMESPACE,
            index_kind=kind,
            hnsw_m=hnsw_m,
            ef_search=ef_search,
            use_gpu=False,
            persist_index=False,
        )
        start = time.perf_counter()
        store = ExperienceStore.open(config, embedder=embedder, create=False)
        build_s = time.perf_counter() - start
        try:
            if len(store) != len(vectors) or len(store.index) != len(vectors):
                raise RuntimeError(
                    f"store holds {len(store)} states, index {len(store.index)}; expected {len(vectors)}"
                )
            latencies, found = timed_queries(store_searcher(store, k), queries, warmup, advance)
        finally:
            store.close()
        rows.append(summarise("store", kind, len(vectors), k, build_s, latencies, found, flat))
        flat = flat or found
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return rows
