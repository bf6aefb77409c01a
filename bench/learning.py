"""Learning efficiency: the learning matrix over the shipped environments, and SmolLM2 with the memory.

    python -m bench.learning [--only NAME ...] [--jobs N] [--out bench/results] [--runs bench/runs] [--quick]

The matrix: per environment (a row), with one episode budget for every learner on it,
- `memory-greedy`: `rlem run --policy memory-greedy` with rlem run's default settings;
- `tabular-q`: tabular one-step Q-learning (`bench.tabular`) with rlem run's default discount,
  exploration and learning rate;
- `random`: uniform over the admissible actions;
- the value-iteration optimum within the step limit, where the environment has a transition table.

SmolLM2 (`guided`): the README's main job with and without the memory (`dev.MAIN_JOB`), the same
configuration over three seeds on 50 held-out maps, and TextWorld with and without the memory.

Each experiment runs on a fresh SQLite memory in its folder under bench/runs/ (its output in
run.log there) and every epoch's eval figures are read back from its metrics.jsonl. Each is
recorded in learning.json as it finishes, next to those of earlier or concurrent invocations, so
experiments can be run one at a time or side by side (`--jobs`). `--quick` runs each chosen
experiment for one epoch of two training and two test tasks, to check the plumbing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.learning_report import save
from bench.machine import load_average
from dev import MAIN_JOB
from rlem.agent.run import RunConfig
from rlem.cli.console import progress
from rlem.config import parse_tasks

Metric = Literal["success", "return"]


class ExperimentFailed(RuntimeError):
    """An experiment's command exited with an error."""


@dataclass(frozen=True)
class Row:
    """One environment of the matrix: its spec, the budget every learner gets, what it is judged on.

    `metric` is eval success where reward comes only with success, mean eval return where rewards
    are dense or negative; `optimum` says whether the environment has a transition table.
    """

    env: str
    train_tasks: str = "0-99"
    test_tasks: str = "1000-1049"
    epochs: int = 3
    metric: Metric = "success"
    optimum: bool = True

    def budget(self) -> list[str]:
        """The options every learner of the row is run with."""
        return [
            "--env", self.env, "--epochs", str(self.epochs),
            "--train-tasks", self.train_tasks, "--test-tasks", self.test_tasks,
        ]  # fmt: skip


ROWS: dict[str, Row] = {
    "frozenlake-4x4": Row("frozenlake:4x4"),
    # The goal is 14 moves from the start: its reward takes longer to reach back (tabular
    # Q-learning first wins here after about 1,500 episodes).
    "frozenlake-8x8": Row("frozenlake:8x8", "0-499"),
    "frozenlake-random": Row("frozenlake:4x4:random"),
    # A success on slippery 8x8 is rare at first; 200 held-out episodes for a steadier figure.
    "frozenlake-slippery": Row("frozenlake:8x8:slippery", "0-499", "10000-10199"),
    # 500 states and a delivery far from the start: tabular Q-learning needs 2,000 to 3,000
    # episodes to deliver, hours of memory-greedy on a 2-core CPU (most episodes run all 200
    # steps). In 150 both learn to stop illegal pickups and drop-offs, not to deliver.
    "taxi": Row("taxi", "0-49", "1000-1009", metric="return"),
    # Hands are short and luck decides many: 1,000 held-out hands for a steadier figure.
    "blackjack": Row("blackjack", test_tasks="1000-1999", metric="return", optimum=False),
    # One start, one map: ten held-out episodes differ only by ties broken at random.
    "cliffwalking": Row("cliffwalking", test_tasks="1000-1009", metric="return"),
    "textworld": Row("textworld:simple", "0-9", "1000-1009", metric="return", optimum=False),
}
DEFAULTS = RunConfig()
# The tabular learner takes rlem run's own defaults, so both learn with the same discount and exploration.
TABULAR = ["--gamma", str(DEFAULTS.gamma), "--explore", str(DEFAULTS.explore), "--lr", str(DEFAULTS.lr)]
LEARNERS: dict[str, tuple[list[str], str]] = {
    "memory-greedy": (["--policy", "memory-greedy"], "rlem.cli"),
    "tabular-q": (TABULAR, "bench.tabular"),
    "random": (["--policy", "random", "--memory", "off"], "rlem.cli"),
}

# The main job on 50 held-out maps instead of 16, one run per seed.
SEEDS = (0, 1, 2)
SEEDED = ["--test-tasks", "1000-1049"]
# Walkthroughs of these games take 8 to 12 commands: 30 steps leave room to explore and keep
# SmolLM2's runs (about a second per decision on a 2-core CPU) to under an hour. A TextWorld state
# prompt is 200 to 480 tokens: a budget of 512 fits it and an exemplar rarely (at 600, one exemplar
# in most prompts made decisions 4 times slower).
TEXTWORLD_LLM = [
    "--env", "textworld:simple", "--epochs", "2", "--max-steps", "30", "--gamma", "0.9",
    "--train-tasks", "0-9", "--test-tasks", "1000-1009",
    "--policy", "hf", "--decide", "guided", "--k", "4", "--token-budget", "512", "--num-envs", "5",
]  # fmt: skip
OFF = ["--memory", "off"]


@dataclass(frozen=True)
class Experiment:
    """One learner on one group of experiments: an `rlem run` or a `bench.tabular` command line."""

    group: str
    arguments: list[str]
    module: str = "rlem.cli"

    def command(self, arguments: list[str], folder: Path) -> list[str]:
        """The command line for `arguments` that writes its metrics.jsonl under `folder/run`."""
        if self.module == "rlem.cli":
            return [sys.executable, "-m", "rlem.cli", "run", *arguments] + [
                "--db", f"sqlite:///{folder / 'memory.db'}", "--out", str(folder / "run")
            ]  # fmt: skip
        return [sys.executable, "-m", self.module, *arguments, "--out", str(folder / "run")]


def experiments() -> dict[str, Experiment]:
    """Every experiment by name: `ROW/LEARNER` for the matrix, then SmolLM2's."""
    found = {
        f"{name}/{learner}": Experiment(name, row.budget() + options, module)
        for name, row in ROWS.items()
        for learner, (options, module) in LEARNERS.items()
    }
    found["main-job/smollm2+memory"] = Experiment("main-job", MAIN_JOB)
    found["main-job/smollm2"] = Experiment("main-job", MAIN_JOB + OFF)
    for seed in SEEDS:
        seeded = MAIN_JOB + SEEDED + ["--seed", str(seed)]
        found[f"main-job-seeds/smollm2+memory-seed{seed}"] = Experiment("main-job-seeds", seeded)
    # Without the memory nothing is learned and an eval decision is SmolLM2's argmax: every seed
    # gives the same eval figures, so one run stands for all.
    found["main-job-seeds/smollm2"] = Experiment("main-job-seeds", MAIN_JOB + SEEDED + OFF)
    found["textworld-smollm2/smollm2+memory"] = Experiment("textworld-smollm2", TEXTWORLD_LLM)
    found["textworld-smollm2/smollm2"] = Experiment("textworld-smollm2", TEXTWORLD_LLM + OFF)
    return found


EXPERIMENTS = experiments()
# Later options win, so these shrink any experiment.
QUICK = ["--epochs", "1", "--train-tasks", "0-1", "--test-tasks", "1000-1001"]


def option(arguments: list[str], name: str) -> str:
    """The last value given for `name` (later options win, as on the command line)."""
    return arguments[len(arguments) - 1 - arguments[::-1].index(name) + 1]


def run_experiment(
    name: str, experiment: Experiment, arguments: list[str], runs: Path, *, alone: bool = True
) -> dict:
    """Run one experiment with `arguments` from scratch; its per-epoch eval figures and its time.
    Beside others (`alone` false) it runs on one thread."""
    folder = runs / name.replace("/", "__")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    # One thread each side by side: the experiments share the cores instead of fighting over them.
    env = os.environ | ({} if alone else {"OMP_NUM_THREADS": "1"})
    with (folder / "run.log").open("w") as log:
        command = experiment.command(arguments, folder)
        code = subprocess.run(command, stdout=log, stderr=log, env=env).returncode
    if code != 0:
        raise ExperimentFailed(f"{name} failed (exit code {code}); its output is in {folder / 'run.log'}")
    lines = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    tool = "rlem run" if experiment.module == "rlem.cli" else f"python -m {experiment.module}"
    return {
        "command": f"{tool} " + " ".join(arguments),
        "env": option(arguments, "--env"),
        "train_episodes_per_epoch": len(parse_tasks(option(arguments, "--train-tasks"))),
        "test_tasks": parse_tasks(option(arguments, "--test-tasks")),
        "eval_success": [row["success_rate"] for row in lines if row["split"] == "eval"],
        "eval_return": [row["mean_return"] for row in lines if row["split"] == "eval"],
        "train_success": [row["success_rate"] for row in lines if row["split"] == "train"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def recorded(path: Path) -> dict:
    """The results document at `path`, keeping only experiments that still exist."""
    document = json.loads(path.read_text()) if path.exists() else {"results": {}}
    document["results"] = {
        name: result for name, result in document.get("results", {}).items() if name in EXPERIMENTS
    }
    return document


def main() -> None:
    """Run the chosen experiments (default: all), recording each in the results as it finishes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), default=list(EXPERIMENTS))
    parser.add_argument("--jobs", type=int, default=1, help="Experiments run side by side.")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--runs", type=Path, default=Path("bench/runs"))
    parser.add_argument("--quick", action="store_true", help="One tiny epoch per experiment.")
    args = parser.parse_args()
    load_start = load_average()
    lock = threading.Lock()

    with progress() as view:
        bar = view.add_task("experiments", total=len(args.only))

        def one(name: str) -> None:
            experiment = EXPERIMENTS[name]
            arguments = experiment.arguments + (QUICK if args.quick else [])
            result = run_experiment(name, experiment, arguments, args.runs, alone=args.jobs == 1)
            with lock:
                # Read again just before writing: another invocation may have recorded its own.
                document = recorded(args.out / "learning.json")
                document["results"][name] = result
                save(args.out, document, load_start, EXPERIMENTS, ROWS)
                view.console.print(f"{name}: eval success {result['eval_success']} in {result['seconds']} s")
                view.advance(bar)

        pool = ThreadPoolExecutor(max(args.jobs, 1))
        try:
            list(pool.map(one, args.only))
        except ExperimentFailed as exc:
            pool.shutdown(cancel_futures=True)
            sys.exit(f"bench.learning: {exc}")
        pool.shutdown()
    print((args.out / "learning.md").read_text())


if __name__ == "__main__":
    main()
