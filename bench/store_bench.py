"""Storage benchmark of the experience store: retrieval latency and recall, update throughput.

    python -m bench.store_bench            # 10k and 100k states; writes bench/results/store.{json,md}
    python -m bench.store_bench --quick    # small sizes, under a minute; writes bench/results/quick/

Both modes write the same JSON schema. Set RLEM_BENCH_PG_URL (or --pg-url) to an administrative
PostgreSQL URL; the benchmark creates and drops its own `rlem_bench_*` database there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.machine import describe_machine, load_average
from bench.report import render
from bench.retrieval import bench_index, bench_store
from bench.synthetic import Clusters
from bench.updates import UpdateResult, WriterPool, run_updates, scratch_postgres, skipped
from memory_store import default_embedder
from memory_store.vectors.embedder import Embedder

SCHEMA_VERSION = 1
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Params:
    """Sizes and settings of one benchmark run."""

    sizes: tuple[int, ...]
    queries: int
    warmup: int
    updates_per_writer: int
    states_per_writer: int
    dim: int = 384
    clusters: int = 200
    noise: float = 0.05
    k: int = 8
    hnsw_m: int = 32
    ef_search: int = 128
    new_state_fraction: float = 0.02
    writer_counts: tuple[int, ...] = (1, 4)
    seed: int = 20230607


FULL = Params(
    sizes=(10_000, 100_000),
    queries=1000,
    warmup=50,
    updates_per_writer=1500,
    states_per_writer=50,
    writer_counts=(1, 4, 8),
)
QUICK = Params(sizes=(1_000, 5_000), queries=100, warmup=10, updates_per_writer=40, states_per_writer=10)


def progress_bar(console: Console) -> Progress:
    """The rich progress display used for every phase."""
    return Progress(
        TextColumn("{task.description:<38}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def retrieval_phase(params: Params, embedder: Embedder, progress: Progress, workdir: Path) -> list[dict]:
    """Index-level and store-level retrieval at every size."""
    clusters = Clusters.make(params.clusters, params.dim, params.noise, params.seed)
    points, labels = clusters.sample(max(params.sizes), params.seed + 1)
    queries, _ = clusters.sample(params.queries, params.seed + 2)
    rows: list[dict] = []
    for size in params.sizes:
        task = progress.add_task(f"index search, {size:,} states", total=2 * params.queries)
        found = bench_index(
            points[:size],
            queries,
            params.k,
            params.warmup,
            params.hnsw_m,
            params.ef_search,
            partial(progress.advance, task),
        )
        rows += [r.as_dict() for r in found]
        fill = progress.add_task(f"bulk insert, {size:,} states", total=size)
        search = progress.add_task(f"store nearest, {size:,} states", total=2 * params.queries)
        found = bench_store(
            workdir,
            points[:size],
            labels[:size],
            queries,
            params.k,
            params.warmup,
            params.hnsw_m,
            params.ef_search,
            embedder,
            partial(progress.advance, fill),
            partial(progress.advance, search),
        )
        rows += [r.as_dict() for r in found]
    return rows


def update_phase(
    params: Params, embedder: Embedder, progress: Progress, workdir: Path, pg_url: str
) -> list[dict]:
    """SQLite and PostgreSQL update throughput with each writer count."""
    loading = progress.add_task("starting writer processes", total=max(params.writer_counts))
    pool = WriterPool(max(params.writer_counts), params.writer_counts)
    results: list[UpdateResult] = []
    try:
        pool.wait_loaded(partial(progress.advance, loading))

        def run(backend: str, url: str, writers: int) -> UpdateResult:
            task = progress.add_task(
                f"{backend} updates, {writers} writer(s)", total=writers * params.updates_per_writer
            )
            return run_updates(
                pool,
                backend,
                url,
                writers,
                params.updates_per_writer,
                params.states_per_writer,
                params.new_state_fraction,
                params.seed,
                embedder,
                partial(progress.advance, task),
            )

        for writers in params.writer_counts:
            results.append(run("sqlite", f"sqlite:///{workdir / f'updates-{writers}w.db'}", writers))
        try:
            database = scratch_postgres(pg_url)
            url = database.__enter__()
        except Exception as exc:  # noqa: BLE001 - no server: record why and go on
            reason = f"PostgreSQL unavailable: {str(exc).splitlines()[0]}"
            results += [skipped("postgresql", w, reason) for w in params.writer_counts]
        else:
            try:
                for writers in params.writer_counts:
                    results.append(run("postgresql", url, writers))
            finally:
                database.__exit__(None, None, None)
    finally:
        pool.close()
    return [r.as_dict() for r in results]


def run_benchmark(params: Params, mode: str, command: str, pg_url: str, console: Console) -> dict[str, Any]:
    """Every measurement, as the JSON-ready result."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    load_start = load_average()
    if load_start is not None and load_start > (os.cpu_count() or 1):
        console.print(
            f"[yellow]warning: load average {load_start} exceeds the core count; figures will be noisy"
        )
    embedder = default_embedder()
    if embedder.dim != params.dim:
        raise SystemExit(f"the default embedder is {embedder.dim}-d, the benchmark expects {params.dim}")
    with tempfile.TemporaryDirectory(prefix="rlem-bench-") as tmp, progress_bar(console) as progress:
        retrieval = retrieval_phase(params, embedder, progress, Path(tmp))
        updates = update_phase(params, embedder, progress, Path(tmp), pg_url)
    ran = [u["no_lost_updates"] for u in updates if u["skipped"] is None]
    return {
        "benchmark": "memory_store",
        "schema_version": SCHEMA_VERSION,
        "mode": mode,
        "command": command,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - clock, 1),
        "machine": describe_machine(pg_url, load_start),
        "params": asdict(params),
        "retrieval": retrieval,
        "updates": updates,
        "no_lost_updates": all(ran) if ran else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, write `store.json` and `store.md`."""
    parser = argparse.ArgumentParser(prog="python -m bench.store_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in well under a minute")
    parser.add_argument(
        "--out", type=Path, help="results folder (default bench/results, or bench/results/quick)"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("RLEM_BENCH_PG_URL", DEFAULT_PG_URL),
        help="administrative PostgreSQL URL (default: $RLEM_BENCH_PG_URL or %(default)s)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.basicConfig(level=logging.WARNING)
    console = Console(stderr=True)
    mode = "quick" if args.quick else "full"
    out: Path = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    command = " ".join(["python -m bench.store_bench", *(argv if argv is not None else sys.argv[1:])])
    result = run_benchmark(QUICK if args.quick else FULL, mode, command, args.pg_url, console)
    out.mkdir(parents=True, exist_ok=True)
    (out / "store.json").write_text(json.dumps(result, indent=2) + "\n")
    report = render(result)
    (out / "store.md").write_text(report)
    sys.stdout.write(report)
    console.print(f"wrote {out / 'store.json'} and {out / 'store.md'}")
    return 0 if result["no_lost_updates"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
