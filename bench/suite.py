"""Every benchmark of the project in one run (`rlem bench`): one section per part, ratios side by side.

Parts, in the order they run, each in its module of `bench.parts`: `retrieval` (FAISS and the
store's search against the paper's linear loop), `writes` (update throughput with 1, 4 and 8
writer processes on SQLite and PostgreSQL), `steps` (an agent step without the LLM), `policy`
(decisions/s), `service` (`rlem serve` under 1 to 16 client processes against the same agent in
process), `gpu` (the GPU against the CPU, where there is one) and `learning` (`python -m
bench.learning`, run last). Sections of parts not run this time
are kept from the folder's earlier bench.json, each with its own date and mode.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bench.machine import describe_machine, load_average
from bench.parts import gpu, learning, policy, retrieval, service, steps, writes
from bench.parts.context import Context, write_json
from bench.suite_plots import plot_sections
from bench.suite_report import render_document, render_part

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCHEMA_VERSION = 1
# Each part's section, by the name `rlem bench --only` takes, in the order they run.
RUNNERS: dict[str, Callable[[Context, Progress], dict[str, Any]]] = {
    "retrieval": retrieval.section,
    "writes": writes.section,
    "steps": steps.section,
    "policy": policy.section,
    "service": service.section,
    "gpu": gpu.section,
    "learning": learning.section,
}
PARTS = tuple(RUNNERS)
# Parts whose files are written in their benchmark's own format rather than as their section.
OWN_FILES = ("policy", "learning")


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
