"""`rlem bench` part `learning`: `python -m bench.learning` in a subprocess, run last (the slowest).

The full suite runs every experiment of `bench.learning`; `--quick` runs the LLM-free learners of
one matrix row in their quick form (its quick version of every experiment takes many minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from rich.progress import Progress

from bench.parts.context import Context
from bench.run_configs import ROOT
from rlem.errors import RlemError

QUICK = tuple(f"frozenlake-random/{learner}" for learner in ("memory-greedy", "tabular-q", "random"))


def section(context: Context, progress: Progress) -> dict[str, Any]:
    """Run the learning benchmark (its output in learning.log); its results as it wrote them."""
    command = [sys.executable, "-m", "bench.learning", "--out", str(context.out)]
    if context.quick:
        command += ["--quick", "--runs", str(context.out / "runs"), "--only", *QUICK]
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
