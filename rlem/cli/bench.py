"""`rlem bench`: every benchmark of the project in one run, from a source checkout.

The benchmarks live in the repository's `bench/` folder, not in the installed package: they need
the checkout that holds this `rlem` package (an editable install, as `dev.py` makes).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from rlem.cli.console import console, errors, fail, progress

CHECKOUT = Path(__file__).resolve().parents[2]


def parse_parts(only: str | None, parts: Sequence[str]) -> tuple[str, ...]:
    """The parts named in `--only` (comma-separated), or all of them."""
    if only is None:
        return tuple(parts)
    chosen = tuple(dict.fromkeys(p.strip() for p in only.split(",") if p.strip()))
    if not chosen or any(p not in parts for p in chosen):
        fail(f"--only {only!r}: choose among {','.join(parts)}")
    return chosen


def bench_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes, about two minutes: checks that everything runs.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Results folder (default bench/results, or bench/results/quick with --quick)."),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated parts to run (default all): "
            "retrieval,writes,steps,policy,service,gpu,learning."
        ),
    ] = None,
    pg_url: Annotated[
        str | None,
        typer.Option(
            envvar="RLEM_BENCH_PG_URL",
            help="Administrative PostgreSQL URL (default: user postgres on 127.0.0.1:5432); the writes "
            "benchmark creates and drops its own database there.",
        ),
    ] = None,
) -> None:
    """Run the benchmarks; write JSON, markdown and PNG plots with the machine's description."""
    if not (CHECKOUT / "bench" / "suite.py").is_file():
        fail(f"rlem bench needs the source checkout: no bench/suite.py in {CHECKOUT}")
    # The benchmarks are the checkout's `bench` package, importable only with the checkout on the path.
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from bench.machine import load_average
    from bench.parts.context import DEFAULT_PG_URL
    from bench.suite import PARTS, RESULTS, run_suite

    parts = parse_parts(only, PARTS)
    folder = out or (RESULTS / "quick" if quick else RESULTS)
    command = " ".join(
        ["rlem bench", *(["--quick"] if quick else []), *(["--only", ",".join(parts)] if only else [])]
        + (["--out", shlex.quote(str(out))] if out else [])
    )
    load = load_average()
    if load is not None and load > (os.cpu_count() or 1):
        errors.print(f"[yellow]warning: load average {load} exceeds the core count; figures will be noisy")
    with progress() as shown:
        document = run_suite(parts, quick, folder, pg_url or DEFAULT_PG_URL, command, shown)
    console.print(f"wrote {folder / 'bench.json'}, {folder / 'bench.md'} and the plots")
    if document["sections"].get("writes", {}).get("no_lost_updates") is False:
        fail(f"an update was lost in the writes benchmark: see {folder / 'bench.md'}")
