"""The markdown rendering of `store.json`."""

from __future__ import annotations

from typing import Any


def cell(value: Any) -> str:
    """A table cell: '-' for missing values, yes/no for booleans."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def render(result: dict[str, Any]) -> str:
    """A short markdown report of a benchmark result."""
    m, p = result["machine"], result["params"]
    lines = [
        f"# Experience store benchmark ({result['mode']})",
        "",
        f"Produced by `{result['command']}` (run from the repository root) on {result['started_at']}, "
        f"in {result['duration_s']:.0f} s.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['ram_gib']} GiB RAM, "
        f"{m['os']}; GPUs seen by FAISS: {m['faiss_gpus']}; load average (1 min) "
        f"{m['load_average_start']} at the start, "
        f"{m['load_average_end']} at the end (the `load` columns: right after each row; above "
        f"{m['cores']} means other work competed for the CPUs).  ",
        f"Software: Python {m['python']}, faiss {m['faiss']} ({m['faiss_omp_threads']} OpenMP threads), "
        f"numpy {m['numpy']}, SQLAlchemy {m['sqlalchemy']}, torch {m['torch']}, psycopg {m['psycopg']}, "
        f"PostgreSQL {m['postgresql_server'] or 'unreachable'}, SQLite {m['sqlite']}.",
        "",
        f"## Retrieval, k={p['k']}",
        "",
        f"{p['dim']}-d unit vectors around {p['clusters']} random centres (gaussian noise σ={p['noise']} "
        f"per coordinate); {p['queries']} distinct queries drawn the same way, one at a time after "
        f"{p['warmup']} warm-up queries. HNSW: M={p['hnsw_m']}, efSearch={p['ef_search']}. "
        "`index` is `VectorIndex.search` alone; `store` is `ExperienceStore.nearest` on SQLite "
        "(FAISS candidates, then the rows and their actions fetched from the database and re-ranked). "
        "Build: adding every vector (index) or opening the store, which loads every embedding "
        "from the database into a new index (store).",
        "",
    ]
    lines += table(
        [
            "level",
            "index",
            "states",
            "build (s)",
            "p50 (ms)",
            "p99 (ms)",
            "mean (ms)",
            f"recall@{p['k']} vs flat",
            "load",
        ],
        [
            [
                r["level"],
                r["kind"],
                f"{r['states']:,}",
                r["build_s"],
                r["p50_ms"],
                r["p99_ms"],
                r["mean_ms"],
                r["recall_vs_flat"],
                r["load_avg_1m"],
            ]
            for r in result["retrieval"]
        ],
    )
    lines += [
        "",
        "## Updates, one `ExperienceStore.apply([update])` per transaction",
        "",
        f"Each writer is a spawned process with its own store and the default MiniLM embedder; "
        f"{p['states_per_writer']} states per writer are created before timing, and each writer applies "
        f"{p['updates_per_writer']} updates to random ones of them (shared between writers), "
        f"{p['new_state_fraction']:.0%} to new states (embedded on the spot). "
        "Only the update loops are timed, "
        "from a common barrier; updates/s counts all updates, p50/p99 are the latencies of updates "
        "to existing states, new-state p50 that of updates creating a state. `no lost updates`: the "
        "visits summed over all action values and over all states both equal the updates applied "
        "(seeding included).",
        "",
    ]
    lines += table(
        [
            "backend",
            "writers",
            "updates",
            "new states",
            "seconds",
            "updates/s",
            "p50 (ms)",
            "p99 (ms)",
            "new-state p50 (ms)",
            "no lost updates",
            "load",
            "skipped",
        ],
        [
            [
                r["backend"],
                r["writers"],
                r["updates"],
                r["new_states"],
                r["seconds"],
                r["updates_per_s"],
                r["p50_ms"],
                r["p99_ms"],
                r["new_state_p50_ms"],
                r["no_lost_updates"],
                r["load_avg_1m"],
                r["skipped"],
            ]
            for r in result["updates"]
        ],
    )
    return "\n".join(lines) + "\n"
