"""`rlem bench` part `retrieval`: FAISS flat and HNSW, the same through the store, and the paper's
linear loop, side by side, with the bandwidth bound.

Every size is measured in one run on the same vectors: the FAISS indexes (`VectorIndex.search`),
a SQLite store filled with them in bulk (`ExperienceStore.nearest`: FAISS candidates, then the rows
and their actions, from the database the first time and from the store's cache when the same query
comes again with nothing changed, re-ranked) and the loop (`bench.linear_scan`) hold
the same 384-d unit embeddings and answer the same queries, one at a time. The loop runs as many
queries as fit in a time budget (at least a few); where even those would take too long it is
skipped, and the row says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from bench.bandwidth import copy_bandwidth_gbs, scan_bound_ms
from bench.linear_scan import LinearMemory
from bench.machine import load_average
from bench.parts.context import Context
from bench.synthetic import Clusters, fill_sqlite
from memory_store import ExperienceStore, StoreConfig
from memory_store.vectors.embedder import Embedder
from memory_store.vectors.index import INDEX_KINDS, VectorIndex

Advance = Callable[[int], None]
Search = Callable[[np.ndarray], list[int]]
NAMESPACE = "bench"


@dataclass(frozen=True)
class RetrievalParams:
    """Sizes and settings of the retrieval comparison."""

    sizes: tuple[int, ...]
    queries: int
    warmup: int
    linear_budget_s: float  # time the loop may spend on one size's timed queries
    linear_min_queries: int  # fewer than this gives no p99 worth the name: skip the loop instead
    bandwidth_mib: int
    dim: int = 384
    clusters: int = 200
    noise: float = 0.05
    k: int = 8
    hnsw_m: int = 32
    ef_search: int = 128
    seed: int = 20230607


FULL = RetrievalParams(
    sizes=(1_000, 10_000, 100_000),
    queries=1000,
    warmup=50,
    linear_budget_s=40.0,
    linear_min_queries=20,
    bandwidth_mib=512,
)
QUICK = RetrievalParams(
    sizes=(1_000, 10_000),
    queries=100,
    warmup=10,
    linear_budget_s=2.0,
    linear_min_queries=5,
    bandwidth_mib=128,
)


def ms(value: float) -> float:
    """Milliseconds, rounded for the report."""
    return round(value, 4)


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


def percentiles(prefix: str, latencies: np.ndarray) -> dict[str, float]:
    """`PREFIX_p50_ms` and `PREFIX_p99_ms`."""
    return {
        f"{prefix}_p50_ms": ms(float(np.percentile(latencies, 50))),
        f"{prefix}_p99_ms": ms(float(np.percentile(latencies, 99))),
    }


def index_rows(
    points: np.ndarray, queries: np.ndarray, params: RetrievalParams, advance: Advance
) -> dict[str, Any]:
    """`VectorIndex` add, then `search` one query at a time, flat then HNSW (recall against flat)."""
    row: dict[str, Any] = {}
    flat: list[list[int]] = []
    for kind in INDEX_KINDS:
        index = VectorIndex(
            points.shape[1], kind, hnsw_m=params.hnsw_m, ef_search=params.ef_search, use_gpu=False
        )
        start = time.perf_counter()
        index.add(np.arange(len(points), dtype=np.int64), points)
        row[f"{kind}_build_s"] = round(time.perf_counter() - start, 3)
        search = lambda q, index=index: index.search(q[None], params.k)[1][0].tolist()  # noqa: E731
        latencies, found = timed_queries(search, queries, params.warmup, advance)
        row |= percentiles(kind, latencies)
        if kind == "flat":
            flat = found
        else:
            row[f"{kind}_recall_vs_flat"] = round(recall(found, flat, params.k), 4)
    return row


def store_rows(
    points: np.ndarray,
    labels: np.ndarray,
    queries: np.ndarray,
    params: RetrievalParams,
    embedder: Embedder,
    workdir: Path,
    progress: Progress,
) -> dict[str, Any]:
    """Fill a SQLite store in bulk, then time `ExperienceStore.nearest` with each index kind, cold
    and repeated; `open` is opening the store, which loads every embedding into a new index."""
    size = len(points)
    path = workdir / f"retrieval-{size}.db"
    url = f"sqlite:///{path}"
    fill = progress.add_task(f"bulk insert, {size:,} states", total=size)
    fill_sqlite(url, NAMESPACE, embedder.model_name, points, labels, partial(progress.advance, fill))
    search = progress.add_task(f"store nearest, {size:,} states", total=2 * len(INDEX_KINDS) * len(queries))
    row: dict[str, Any] = {}
    flat: list[list[int]] = []
    for kind in INDEX_KINDS:
        config = StoreConfig(
            url=url,
            namespace=NAMESPACE,
            index_kind=kind,
            hnsw_m=params.hnsw_m,
            ef_search=params.ef_search,
            use_gpu=False,
            persist_index=False,
        )
        start = time.perf_counter()
        with ExperienceStore.open(config, embedder=embedder, create=False) as store:
            row[f"store_{kind}_open_s"] = round(time.perf_counter() - start, 3)
            if len(store) != size or len(store.index) != size:
                raise RuntimeError(
                    f"store holds {len(store)} states, index {len(store.index)}; expected {size}"
                )
            nearest = lambda q, store=store: [r.experience.id for r in store.nearest(q, params.k)]  # noqa: E731
            # Cold: each query's rows read from the database (the store's cache holds none of them);
            # then the same queries again, the namespace unchanged: rows from the cache.
            store.cached.clear()
            cold, found = timed_queries(nearest, queries, 0, partial(progress.advance, search))
            latencies, again = timed_queries(nearest, queries, 0, partial(progress.advance, search))
            if again != found:
                raise RuntimeError("the store answered a repeated query differently")
        row |= percentiles(f"store_{kind}_cold", cold) | percentiles(f"store_{kind}", latencies)
        if kind == "flat":
            flat = found
        else:
            row[f"store_{kind}_recall_vs_flat"] = round(recall(found, flat, params.k), 4)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return row


def flat_ids(points: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    """What FAISS flat finds for each query (ids are row numbers, as in `index_rows`)."""
    index = VectorIndex(points.shape[1], "flat", use_gpu=False)
    index.add(np.arange(len(points), dtype=np.int64), points)
    return index.search(queries, k)[1].tolist()


def linear_row(
    points: np.ndarray, queries: np.ndarray, params: RetrievalParams, progress: Progress
) -> dict[str, Any]:
    """Time the loop on as many queries as its budget allows, or say why it was skipped."""
    memory = LinearMemory(points)
    start = time.perf_counter()
    memory.search(queries[0], params.k)  # one untimed query: the estimate, and the warm-up
    estimate_s = time.perf_counter() - start
    count = min(len(queries), int(params.linear_budget_s / estimate_s))
    if count < params.linear_min_queries:
        return {
            "linear_skipped": f"one query took {estimate_s:.1f} s; {params.linear_min_queries} queries "
            f"would exceed the {params.linear_budget_s:.0f} s budget"
        }
    task = progress.add_task(f"linear loop, {len(memory.records):,} states", total=count)
    latencies, found = timed_queries(
        lambda q: memory.search(q, params.k), queries[:count], 0, partial(progress.advance, task)
    )
    truth = flat_ids(points, queries[:count], params.k)
    return {
        "linear_queries": count,
        "linear_p50_ms": ms(float(np.percentile(latencies, 50))),
        "linear_p99_ms": ms(float(np.percentile(latencies, 99))),
        "linear_recall_vs_flat": round(recall(found, truth, params.k), 4),
        "linear_skipped": None,
    }


def compare_size(
    points: np.ndarray,
    labels: np.ndarray,
    queries: np.ndarray,
    params: RetrievalParams,
    bandwidth: float,
    context: Context,
    progress: Progress,
) -> dict[str, Any]:
    """One size: FAISS flat and HNSW, the same through the store, the loop, the bound, the ratios."""
    size = len(points)
    task = progress.add_task(f"FAISS flat and HNSW, {size:,} states", total=2 * params.queries)
    index = index_rows(points, queries, params, partial(progress.advance, task))
    row: dict[str, Any] = {
        "states": size,
        "queries": params.queries,
        **{key: index[key] for key in ("flat_p50_ms", "flat_p99_ms", "hnsw_p50_ms", "hnsw_p99_ms")},
        "hnsw_build_s": index["hnsw_build_s"],
        "hnsw_recall_vs_flat": index["hnsw_recall_vs_flat"],
        "linear_queries": 0,
        "linear_p50_ms": None,
        "linear_p99_ms": None,
        "linear_recall_vs_flat": None,
    }
    row |= linear_row(points, queries, params, progress)
    linear = row["linear_p50_ms"]
    bound = scan_bound_ms(size, params.dim, bandwidth)
    row |= {
        "speedup_vs_linear": None if linear is None else round(linear / row["flat_p50_ms"], 1),
        "hnsw_speedup_vs_linear": None if linear is None else round(linear / row["hnsw_p50_ms"], 1),
        "bytes_scanned": size * params.dim * 4,
        "bound_ms": ms(bound),
        "flat_over_bound": round(row["flat_p50_ms"] / bound, 2),
        "flat_build_s": index["flat_build_s"],
    }
    row |= store_rows(points, labels, queries, params, context.embedder(), context.workdir, progress)
    return row | {"load_avg_1m": load_average()}


def section(context: Context, progress: Progress) -> dict[str, Any]:
    """Measure the bandwidth, then compare the ways of retrieving at every size."""
    params = QUICK if context.quick else FULL
    task = progress.add_task("memory bandwidth", total=1)
    bandwidth = copy_bandwidth_gbs(params.bandwidth_mib)
    progress.advance(task)
    clusters = Clusters.make(params.clusters, params.dim, params.noise, params.seed)
    points, labels = clusters.sample(max(params.sizes), params.seed + 1)
    queries, _ = clusters.sample(params.queries, params.seed + 2)
    rows = [
        compare_size(points[:size], labels[:size], queries, params, bandwidth, context, progress)
        for size in params.sizes
    ]
    return {"params": asdict(params), "bandwidth_gbs": round(bandwidth, 2), "sizes": rows}
