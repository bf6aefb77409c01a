"""The markdown rendering of `rlem bench` results: the machine, then one section per benchmark."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.markdown import table

TITLES = {
    "retrieval": "Retrieval: FAISS against the paper's linear loop",
    "writes": "Writes: updates/s with concurrent writer processes",
    "steps": "Agent step overhead without the LLM",
    "policy": "Policy throughput",
    "service": "The service: rlem serve under concurrent clients",
    "gpu": "The GPU against the CPU",
    "learning": "Learning efficiency",
}


def number(value: float | None, places: int = 2) -> str:
    """A figure with thousands separators, or '-' when missing."""
    return "-" if value is None else f"{value:,.{places}f}"


def times(value: float | None) -> str:
    """A ratio as `12.3x`, or '-'."""
    return "-" if value is None else f"{value:,.1f}x"


def machine_lines(m: dict[str, Any]) -> list[str]:
    """The machine and software the figures depend on."""
    gpu = m.get("gpu") or "none"
    return [
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['ram_gib']} GiB RAM, "
        f"{m['os']}; GPU: {gpu}. Load average (1 min): {m['load_average_start']} at the start, "
        f"{m['load_average_end']} at the end (above {m['cores']} means other work competed for the CPUs).  ",
        f"Software: Python {m['python']}, faiss {m['faiss']} ({m['faiss_omp_threads']} OpenMP threads), "
        f"numpy {m['numpy']}, torch {m['torch']} ({m['torch_threads']} threads), SQLAlchemy "
        f"{m['sqlalchemy']}, psycopg {m['psycopg']}, PostgreSQL {m['postgresql_server'] or 'unreachable'}, "
        f"SQLite {m['sqlite']}, sentence-transformers {m['sentence_transformers']}.",
    ]


def stamp(section: dict[str, Any]) -> str:
    """When and how a section was measured."""
    return (
        f"`{section['command']}` ({section['mode']}) on {section['started_at']}, {section['seconds']:.0f} s; "
        f"load average {section['load_average_start']} → {section['load_average_end']}."
    )


def pair(row: dict[str, Any], key: str, places: int) -> str:
    """`p50 / p99` of one way of retrieving."""
    return f"{number(row[f'{key}_p50_ms'], places)} / {number(row[f'{key}_p99_ms'], places)}"


def retrieval_row(r: dict[str, Any]) -> list[Any]:
    """One size's row of the retrieval table."""
    linear = "skipped" if r["linear_skipped"] else f"{pair(r, 'linear', 1)} ({r['linear_queries']} q)"
    return [
        f"{r['states']:,}",
        pair(r, "flat", 3),
        pair(r, "hnsw", 3),
        r["hnsw_recall_vs_flat"],
        linear,
        times(r["speedup_vs_linear"]),
        times(r["hnsw_speedup_vs_linear"]),
        number(r["bound_ms"], 3),
        r["flat_over_bound"],
    ]


def retrieval(section: dict[str, Any]) -> list[str]:
    """Latencies per size, the speedups over the loop, and the flat index against the bandwidth bound."""
    p = section["params"]
    lines = [
        f"k={p['k']}, {p['dim']}-d unit vectors around {p['clusters']} centres, {p['queries']} queries "
        f"one at a time after {p['warmup']} warm-up ones (FAISS on one thread, as `ExperienceStore` runs "
        f"single queries; HNSW M={p['hnsw_m']}, efSearch={p['ef_search']}). `linear`: the paper's retrieval, "
        "a Python loop scoring every stored key and sorting them all (`bench/linear_scan.py`), on the same "
        f"vectors; it runs the first queries that fit in {p['linear_budget_s']:.0f} s. Bound: the bytes a "
        f"flat scan reads (states × {p['dim']} × 4) over the memory bandwidth measured in the same run, "
        f"{section['bandwidth_gbs']} GB/s (one thread copying {p['bandwidth_mib']} MiB, read plus write); "
        "sizes that fit in the CPU caches beat it.",
        "",
    ]
    lines += table(
        [
            "states",
            "flat p50 / p99 (ms)",
            "HNSW p50 / p99 (ms)",
            "HNSW recall",
            "linear p50 / p99 (ms)",
            "linear / flat",
            "linear / HNSW",
            "bound (ms)",
            "flat / bound",
        ],
        [retrieval_row(r) for r in section["sizes"]],
    )
    skipped = [r for r in section["sizes"] if r["linear_skipped"]]
    lines += [f"\nLinear loop skipped at {r['states']:,}: {r['linear_skipped']}." for r in skipped]
    return lines + through_the_store(section)


def through_the_store(section: dict[str, Any]) -> list[str]:
    """The same queries through `ExperienceStore.nearest`, where the section measured it (sections
    written before it was part of `retrieval` lack it)."""
    rows = [r for r in section["sizes"] if "store_flat_p50_ms" in r]
    if not rows:
        return []
    lines = [
        "",
        "Through the store: `ExperienceStore.nearest` on SQLite filled with the same vectors (FAISS "
        "candidates, then the rows and their actions, re-ranked). Cold: the first time each query "
        "comes, every row read from the database; warm: the same queries again with nothing changed, "
        "one statement that finds the namespace unchanged and the rows from the store's cache. "
        "`/ index`: warm p50 over the FAISS search's p50 above. Open: opening the store, which loads "
        "every embedding from the database into a new index.",
        "",
    ]
    return lines + table(
        [
            "states",
            "index",
            "cold p50 / p99 (ms)",
            "warm p50 / p99 (ms)",
            "warm / index",
            "recall vs flat",
            "open (s)",
        ],
        [
            [
                f"{r['states']:,}",
                kind,
                pair(r, f"store_{kind}_cold", 3) if f"store_{kind}_cold_p50_ms" in r else "-",
                pair(r, f"store_{kind}", 3),
                times(r[f"store_{kind}_p50_ms"] / r[f"{kind}_p50_ms"]),
                r.get(f"store_{kind}_recall_vs_flat", "-"),
                r[f"store_{kind}_open_s"],
            ]
            for r in rows
            for kind in ("flat", "hnsw")
        ],
    )


def writes(section: dict[str, Any]) -> list[str]:
    """Throughput per backend and writer count, against one writer."""
    p = section["params"]
    versus = section["vs_one_writer"]
    sizes = " and ".join(str(n) for n in p["per_transaction"])
    lines = [
        f"Each writer is a process with its own store, applying {p['updates_per_writer']} updates in "
        f"`ExperienceStore.apply` transactions of {sizes} updates, to {p['states_per_writer']} states per "
        f"writer shared by all writers ({p['new_state_fraction']:.0%} create new states, their texts "
        "embedded before timing as an agent's retrieval embeds them). p50/p99: per "
        "transaction. `no lost updates`: the visits summed over all states and actions afterwards equal "
        "the updates applied.",
        "",
    ]
    lines += table(
        [
            "backend",
            "writers",
            "updates a transaction",
            "updates/s",
            "vs 1 writer",
            "p50 (ms)",
            "p99 (ms)",
            "no lost updates",
            "skipped",
        ],
        [
            [
                r["backend"],
                r["writers"],
                r["per_transaction"],
                number(r["updates_per_s"], 0),
                "1.0x"
                if r["writers"] == 1
                else times(versus.get(f"{r['backend']} {r['writers']} {r['per_transaction']}")),
                r["p50_ms"],
                r["p99_ms"],
                r["no_lost_updates"],
                r["skipped"],
            ]
            for r in section["rows"]
        ],
    )

    def per(key: str) -> str:
        writers, _, size = key.partition(" ")
        return f"{writers} writer(s)" + (f", {size} a transaction" if size else "")

    pg = ", ".join(f"{per(k)} {times(v)}" for k, v in section["postgresql_vs_sqlite"].items())
    many = p["per_transaction"][-1]
    batched = ", ".join(f"{k}: {times(v)}" for k, v in section["batched_vs_single"].items())
    return [*lines, "", f"PostgreSQL / SQLite updates/s: {pg}.", "",
            f"{many} updates a transaction / 1, updates/s, by backend and writers: {batched}."]  # fmt: skip


def steps(section: dict[str, Any]) -> list[str]:
    """Per-step latency and where it goes."""
    p = section["params"]
    lines = [
        "One step: `rlem.learning.double_q.retrieve` (embed the state's text, then "
        f"`ExperienceStore.nearest`, k={p['k']}), `build_prompt` with the SmolLM2 tokenizer and the "
        f"pattern templates ({p['token_budget']}-token budget), and one n-step (n=1) Q-learning update "
        "through an `EpisodeLearner` (max Q of the next state, then one transaction). SQLite store; "
        f"{p['steps']} steps per row over stored states, "
        f"after {p['warmup']} warm-up steps. Each part: p50 (share of the total time).",
        "",
    ]

    def part(row: dict[str, Any], name: str) -> str:
        return f"{number(row['parts'][name]['p50_ms'])} ({row['parts'][name]['share']:.0%})"

    lines += table(
        ["states", "index", "step p50 (ms)", "step p99 (ms)", "embed", "search", "prompt", "update"],
        [
            [
                f"{r['states']:,}",
                r["index"],
                number(r["p50_ms"]),
                number(r["p99_ms"]),
                part(r, "embed"),
                part(r, "search"),
                part(r, "prompt"),
                part(r, "update"),
            ]
            for r in section["rows"]
        ],
    )
    if section["ratios"]:
        lines += [
            "",
            "Step p50 ratios: " + ", ".join(f"{k} {times(v)}" for k, v in section["ratios"].items()) + ".",
        ]
    return lines


def policy(section: dict[str, Any]) -> list[str]:
    """Decisions/s per backend, mode and batch, and the ratios between them."""
    r = section["ratios"]
    lines = [
        f"{section['model']} on {section['device']}, {section['decisions']} FrozenLake-like decisions per "
        "row (pattern layout, one exemplar, 4 admissible actions); batch 8 is what `--num-envs 8` gives. "
        "Full figures: [policy.md](policy.md).",
        "",
    ]
    lines += table(
        ["backend", "mode", "batch", "decisions/s", "tokens/s"],
        [
            [x["backend"], x["mode"], x["batch"], number(x["decisions_per_s"]), number(x["tokens_per_s"], 0)]
            for x in section["rows"]
        ],
    )
    lines += [
        "",
        f"score / generate: {times(r['score_vs_generate_batch1'])} at batch 1, "
        f"{times(r['score_vs_generate_batch8'])} at batch 8; batch 8 / batch 1: generate "
        f"{times(r['batch8_vs_batch1_generate'])}, score {times(r['batch8_vs_batch1_score'])}; "
        f"llama.cpp / transformers at batch 1: generate {times(r['llamacpp_vs_hf_generate'])}, score "
        f"{times(r['llamacpp_vs_hf_score'])}.",
    ]
    if "sharing" in section:  # sections written before it was measured lack it
        shared = section["sharing"]
        lines += [
            "",
            f"Scoring the main job's prompts in batches of 8 with the recent prompts' key/value rows "
            f"kept: "
            f"{times(shared['speedup'])} against every prompt whole (largest score gap "
            f"{shared['max_score_gap']:.1e}).",
        ]
    return lines


def service(section: dict[str, Any]) -> list[str]:
    """Environment steps/s through the server by client count, beside the same loop in process."""
    lines = [
        f"Training episodes on `{section['env']}` with the main job's settings, each row from an empty "
        "namespace. `rlem serve`: client processes each running `rlem run --server`'s loop on one "
        "environment (one request at a time), auth on, SQLite; the server batches their act requests "
        f"(--batch-wait-ms {section['params']['batch_wait_ms']:g}). In process: the same loop on "
        "`RLEMAgent`, its environments in lockstep (`rlem run --num-envs`). The clients share the "
        "server's CPUs.",
        "",
    ]
    lines += table(
        ["policy", "where", "clients / envs", "steps", "decisions/s", "latency p50 / p99 (ms)",
         "server overhead p50 (ms)", "mean batch"],
        [
            [r["policy"], r["where"], r.get("clients", r.get("envs")), r["steps"], number(r["steps_per_s"]),
             f"{number(r['latency_p50_ms'], 1)} / {number(r['latency_p99_ms'], 1)}",
             number(r.get("overhead_p50_ms"), 1), number(r.get("mean_batch"))]
            for r in section["rows"]
        ],
    )  # fmt: skip
    ratios = ", ".join(f"{k} {number(v)}x" for k, v in section["ratios"].items())
    return [*lines, "", f"Ratios of decisions/s: {ratios}."]


def learning(section: dict[str, Any]) -> list[str]:
    """Eval success per epoch of each experiment; the details are in learning.md."""
    rows = [
        [name, " / ".join(f"{s:.2f}" for s in result.get("eval_success", []))]
        for name, result in section["results"].items()
    ]
    lines = [f"`{section['learning_command']}`; details and plots in [learning.md](learning.md).", ""]
    return lines + table(["experiment", "eval success by epoch"], rows)


def gpu(section: dict[str, Any]) -> list[str]:
    """FAISS, MiniLM, SmolLM2 and the main job on the GPU beside the CPU, or why nothing was measured."""
    if section.get("skipped"):
        return [f"Not measured: {section['skipped']}."]
    p = section["params"]
    lines = [f"GPU: {section['gpu_name'] or 'none seen by torch'}; FAISS sees {section['faiss_gpus']}. "
             f"{p['states']:,} states of {p['dim']} dimensions, k={p['k']}, {p['queries']} queries one at "
             "a time (p50) and in one batch; FAISS has no GPU HNSW.", ""]  # fmt: skip
    lines += table(
        ["index", "device", "build (s)", "one query p50 (ms)", "batch queries/s"],
        [[r["index"], r["device"], r["build_s"], r["single_p50_ms"], number(r["batch_queries_per_s"], 0)]
         for r in section["search"]],
    )  # fmt: skip
    lines += ["", *table(["MiniLM device", "texts/s"], [[r["device"], number(r["texts_per_s"], 0)]
                                                          for r in section["embedding"]])]  # fmt: skip
    lines += ["", *table(["SmolLM2 device", "dtype", "batch", "decisions/s"],
                         [[r["device"], r["dtype"], r["batch"], number(r["decisions_per_s"])]
                          for r in section["decisions"]])]  # fmt: skip
    job = section["main_job"]
    if job is not None:
        outcome = "timed out" if job["timed_out"] else f"exit code {job['returncode']}"
        lines += ["", f"The main job (`examples/main_job.toml`): {job['wall_s']} s wall, {outcome}."]
    ratios = ", ".join(f"{k} {times(v)}" for k, v in section["ratios"].items())
    return [*lines, "", f"Ratios: {ratios}."]


RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "retrieval": retrieval,
    "writes": writes,
    "steps": steps,
    "policy": policy,
    "service": service,
    "gpu": gpu,
    "learning": learning,
}


def section_lines(name: str, section: dict[str, Any], plots: list[str]) -> list[str]:
    """One section: title, when it ran, its text and table, its plot (`NAME.png`) if drawn."""
    lines = [f"## {TITLES[name]}", "", stamp(section), "", *RENDERERS[name](section)]
    if f"{name}.png" in plots:
        lines += ["", f"![{TITLES[name]}]({name}.png)"]
    return [*lines, ""]


def render_document(document: dict[str, Any]) -> str:
    """bench.md: the command, the machine, then every section."""
    lines = [
        "# Benchmarks",
        "",
        f"Written by `rlem bench`, last by `{document['command']}` on {document['updated_at']}; each "
        "section names the run it comes from. Times drift on shared machines: compare the ratios, "
        "measured side by side in one run.",
        "",
        *machine_lines(document["machine"]),
        "",
    ]
    for name, section in document["sections"].items():
        lines += section_lines(name, section, document.get("plots", []))
    return "\n".join(lines)


def render_part(name: str, section: dict[str, Any], machine: dict[str, Any], plots: list[str]) -> str:
    """The markdown file of one part: the machine, then its section."""
    lines = [f"# {TITLES[name]}", "", *machine_lines(machine), ""]
    lines += section_lines(name, section, plots)[2:]
    return "\n".join(lines)
