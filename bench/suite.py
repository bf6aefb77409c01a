"""Every benchmark of the project in one run (`rlem bench`): one section per part, ratios side by side.

Parts: `retrieval` (FAISS against the paper's linear loop, `bench.retrieval_compare`), `writes`
(update throughput with 1, 4 and 8 writer processes on SQLite and PostgreSQL, `bench.store_bench`),
`steps` (an agent step without the LLM, `bench.step_overhead`), `policy` (decisions/s,
`bench.policy_bench`) and `learning` (`python -m bench.learning`, run last). Sections of parts not
run this time are kept from the folder's earlier bench.json, each with its own date and mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bench import policy_bench, retrieval_compare, step_overhead, store_bench
from bench.machine import describe_machine, load_average
from bench.suite_plots import plot_sections
from bench.suite_report import render_document, render_part
from memory_store import default_embedder
from memory_store.vectors.embedder import Embedder
from rlem.errors import RlemError

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCHEMA_VERSION = 1
PARTS = ("retrieval", "writes", "steps", "policy", "learning")
# LLM-free experiments of bench.learning: its quick version of every experiment takes many minutes.
QUICK_LEARNING = tuple(f"frozenlake-random/{learner}" for learner in ("memory-greedy", "tabular-q", "random"))
POLICY_DECISIONS = {"full": 32, "quick": 8}
# Parts whose files are written in their benchmark's own format rather than as their section.
OWN_FILES = ("policy", "learning")
# Two writers at most: each is a process loading torch and the embedder, slow to start on 2 cores.
WRITES_QUICK = replace(store_bench.QUICK, writer_counts=(1, 2))


@dataclass
class Context:
    """What the parts share: the mode, where results go, the PostgreSQL server, a scratch folder."""

    quick: bool
    out: Path
    pg_url: str
    workdir: Path
    command: str
    loaded: Embedder | None = None

    @property
    def mode(self) -> str:
        """`quick` or `full`."""
        return "quick" if self.quick else "full"

    def embedder(self) -> Embedder:
        """The default embedder, loaded on first use and shared by the parts."""
        if self.loaded is None:
            self.loaded = default_embedder()
        return self.loaded


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Pretty JSON with a final newline."""
    path.write_text(json.dumps(data, indent=1) + "\n")


def retrieval(context: Context, progress: Progress) -> dict[str, Any]:
    """FAISS flat and HNSW against the paper's linear loop, with the bandwidth bound."""
    return retrieval_compare.run(
        retrieval_compare.QUICK if context.quick else retrieval_compare.FULL, progress
    )


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b to two places, or None when either is missing."""
    return None if a is None or not b else round(a / b, 2)


def writes(context: Context, progress: Progress) -> dict[str, Any]:
    """Updates/s with each writer count on SQLite and PostgreSQL; no update may be lost."""
    params = WRITES_QUICK if context.quick else store_bench.FULL
    rows = store_bench.update_phase(params, context.embedder(), progress, context.workdir, context.pg_url)
    rate = {(r["backend"], r["writers"]): r["updates_per_s"] for r in rows}
    ran = [r["no_lost_updates"] for r in rows if r["skipped"] is None]
    return {
        "params": {
            key: getattr(params, key)
            for key in ("writer_counts", "updates_per_writer", "states_per_writer", "new_state_fraction")
        },
        "rows": rows,
        "no_lost_updates": all(ran) if ran else None,
        "vs_one_writer": {
            f"{backend} {writers}": ratio(rate[backend, writers], rate[backend, 1])
            for backend, writers in rate
            if writers != 1
        },
        "postgresql_vs_sqlite": {
            str(writers): ratio(rate["postgresql", writers], rate["sqlite", writers])
            for writers in params.writer_counts
        },
    }


def steps(context: Context, progress: Progress) -> dict[str, Any]:
    """Retrieve, prompt and update per agent step, without the LLM."""
    params = step_overhead.QUICK if context.quick else step_overhead.FULL
    measured = step_overhead.run(params, context.embedder(), progress)
    p50 = {(r["states"], r["index"]): r["p50_ms"] for r in measured["rows"]}
    smallest, largest = min(params.sizes), max(params.sizes)
    return measured | {
        "ratios": {
            **{
                f"{kind} {largest} vs {smallest}": ratio(p50[largest, kind], p50[smallest, kind])
                for kind in params.kinds
                if largest != smallest
            },
            **{
                f"hnsw vs flat {size}": ratio(p50[size, "hnsw"], p50[size, "flat"])
                for size in params.sizes
                if {"flat", "hnsw"} <= set(params.kinds)
            },
        }
    }


def policy(context: Context, progress: Progress) -> dict[str, Any]:
    """Decisions/s of generate and score at batch 1 and 8 (`--num-envs 8`), on a GPU when there is one,
    and scoring with the recent prompts' key/value rows kept against whole prompts."""
    task = progress.add_task("policy throughput", total=policy_bench.CONFIGURATIONS)
    result = policy_bench.run(POLICY_DECISIONS[context.mode], partial(progress.advance, task))
    # policy.json and policy.md keep bench.policy_bench's own format, whichever command wrote them.
    result["command"] = context.command
    write_json(context.out / "policy.json", result)
    (context.out / "policy.md").write_text(policy_bench.render(result))
    by = {(r["backend"], r["mode"], r["batch"]): r["decisions_per_s"] for r in result["results"]}
    return {
        "model": result["model"],
        "device": result["device"],
        "decisions": POLICY_DECISIONS[context.mode],
        "rows": result["results"],
        "ratios": {
            "score_vs_generate_batch1": ratio(by["hf", "score", 1], by["hf", "generate", 1]),
            "score_vs_generate_batch8": ratio(by["hf", "score", 8], by["hf", "generate", 8]),
            "batch8_vs_batch1_generate": ratio(by["hf", "generate", 8], by["hf", "generate", 1]),
            "batch8_vs_batch1_score": ratio(by["hf", "score", 8], by["hf", "score", 1]),
            "llamacpp_vs_hf_generate": ratio(by["llamacpp", "generate", 1], by["hf", "generate", 1]),
            "llamacpp_vs_hf_score": ratio(by["llamacpp", "score", 1], by["hf", "score", 1]),
        },
        "sharing": result["sharing"],
    }


def learning(context: Context, progress: Progress) -> dict[str, Any]:
    """`python -m bench.learning` in a subprocess (its output in learning.log); its results as written."""
    command = [sys.executable, "-m", "bench.learning", "--out", str(context.out)]
    if context.quick:
        command += ["--quick", "--runs", str(context.out / "runs"), "--only", *QUICK_LEARNING]
    log = context.out / "learning.log"
    task = progress.add_task("learning (python -m bench.learning)", total=None)
    with log.open("w") as sink:
        code = subprocess.run(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT).returncode
    progress.update(task, total=1, completed=1)
    if code != 0:
        raise RlemError(f"the learning benchmark failed (exit code {code}); its output is in {log}")
    found = json.loads((context.out / "learning.json").read_text())
    return {
        "learning_command": " ".join(["python -m bench.learning", *command[3:]]),
        "results": found.get("results", {}),
        "report": "learning.md",
        "plots": found.get("plots", []),
    }


RUNNERS: dict[str, Callable[[Context, Progress], dict[str, Any]]] = {
    "retrieval": retrieval,
    "writes": writes,
    "steps": steps,
    "policy": policy,
    "learning": learning,
}


def run_part(name: str, context: Context, progress: Progress) -> dict[str, Any]:
    """One part, stamped with its command, mode, time, duration and the load around it."""
    started, clock, load_start = datetime.now(UTC), time.perf_counter(), load_average()
    section = RUNNERS[name](context, progress)
    return {
        "command": context.command,
        "mode": context.mode,
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - clock, 1),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        **section,
    }


def run_suite(
    parts: tuple[str, ...], quick: bool, out: Path, pg_url: str, command: str, progress: Progress
) -> dict[str, Any]:
    """Run `parts` in order, write every file into `out`, and return the combined document."""
    out = out.resolve()  # the learning subprocess runs in the checkout, not here
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    load_start = load_average()
    path = out / "bench.json"
    earlier = json.loads(path.read_text()).get("sections", {}) if path.exists() else {}
    sections: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rlem-bench-") as tmp:
        context = Context(quick, out, pg_url, Path(tmp), command)
        for name in sorted(parts, key=PARTS.index):  # learning last: it takes longest
            sections[name] = run_part(name, context, progress)
    machine = describe_machine(pg_url, load_start)
    merged = {name: sections.get(name) or earlier[name] for name in PARTS if name in {**earlier, **sections}}
    plots = plot_sections(merged, out)
    for name, section in sections.items():
        if name not in OWN_FILES:
            write_json(out / f"{name}.json", {"machine": machine, **section})
            (out / f"{name}.md").write_text(render_part(name, section, machine, plots))
    document = {
        "benchmark": "rlem",
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "sections": merged,
        "plots": plots,
    }
    write_json(path, document)
    (out / "bench.md").write_text(render_document(document))
    return document
