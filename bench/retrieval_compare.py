"""Retrieval side by side: FAISS flat and HNSW against the paper's linear loop, and the bandwidth bound.

Every size is measured in one run on the same vectors: the FAISS indexes and the loop
(`bench.linear_scan`) hold the same 384-d unit embeddings and answer the same queries, one at a
time. The loop runs as many queries as fit in a time budget (at least a few); where even those
would take too long it is skipped, and the row says so.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
from rich.progress import Progress

from bench.bandwidth import copy_bandwidth_gbs, scan_bound_ms
from bench.linear_scan import LinearMemory
from bench.machine import load_average
from bench.retrieval import bench_index, recall, timed_queries
from bench.synthetic import Clusters
from memory_store.vectors.index import VectorIndex


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


def flat_ids(points: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    """What FAISS flat finds for each query (ids are row numbers, as in `bench_index`)."""
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
    points: np.ndarray, queries: np.ndarray, params: RetrievalParams, bandwidth: float, progress: Progress
) -> dict[str, Any]:
    """One size: FAISS flat and HNSW, the loop, the bound, and the ratios."""
    size = len(points)
    task = progress.add_task(f"FAISS flat and HNSW, {size:,} states", total=2 * params.queries)
    advance = partial(progress.advance, task)
    flat_row, hnsw_row = bench_index(
        points, queries, params.k, params.warmup, params.hnsw_m, params.ef_search, advance
    )
    row: dict[str, Any] = {
        "states": size,
        "queries": params.queries,
        "flat_p50_ms": flat_row.p50_ms,
        "flat_p99_ms": flat_row.p99_ms,
        "hnsw_p50_ms": hnsw_row.p50_ms,
        "hnsw_p99_ms": hnsw_row.p99_ms,
        "hnsw_build_s": hnsw_row.build_s,
        "hnsw_recall_vs_flat": hnsw_row.recall_vs_flat,
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
        "load_avg_1m": load_average(),
    }
    return row


def run(params: RetrievalParams, progress: Progress) -> dict[str, Any]:
    """Measure the bandwidth, then compare the three ways of retrieving at every size."""
    task = progress.add_task("memory bandwidth", total=1)
    bandwidth = copy_bandwidth_gbs(params.bandwidth_mib)
    progress.advance(task)
    clusters = Clusters.make(params.clusters, params.dim, params.noise, params.seed)
    points, _ = clusters.sample(max(params.sizes), params.seed + 1)
    queries, _ = clusters.sample(params.queries, params.seed + 2)
    rows = [compare_size(points[:size], queries, params, bandwidth, progress) for size in params.sizes]
    return {"params": asdict(params), "bandwidth_gbs": round(bandwidth, 2), "sizes": rows}
