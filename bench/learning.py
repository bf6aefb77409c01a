"""Learning efficiency: the learning matrix over the shipped environments, and SmolLM2 with the memory.

    python -m bench.learning [--only NAME ...] [--jobs N] [--out bench/results] [--runs bench/runs] [--quick]

The matrix: per environment (a row), with one episode budget for every learner on it,
- `memory-greedy`: `rlem run --policy memory-greedy` with rlem run's default settings;
- `tabular-q`: tabular one-step Q-learning (`bench.baselines.tabular`) with rlem run's default discount,
  exploration and learning rate;
- `random`: uniform over the admissible actions;
- the value-iteration optimum within the step limit, where the environment has a transition table.

SmolLM2 (`guided`): the README's main job with and without the memory (examples/main_job.toml), the
same configuration over three seeds on 50 held-out maps, and TextWorld with and without the memory.

Every experiment is a `RunConfig`; the main job's are derived from examples/main_job.toml. Each runs
on a fresh SQLite memory in its folder under bench/runs/: an rlem run as `rlem run --config
config.toml` with its settings written to that file, the tabular baseline with the equivalent
options; its output goes to run.log there and every epoch's eval figures are read back from its
metrics.jsonl. Each is
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

from bench.baselines import tabular
from bench.learning_report import save
from bench.machine import load_average
from bench.run_configs import main_job, options, write_config
from rlem.cli.console import progress
from rlem.config import RunConfig, parse_tasks

Metric = Literal["success", "return"]
Program = Literal["rlem run", "tabular"]


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

    def budget(self) -> dict[str, object]:
        """The settings every learner of the row is run with (RunConfig fields)."""
        return {
            "env": self.env,
            "epochs": self.epochs,
            "train_tasks": self.train_tasks,
            "test_tasks": self.test_tasks,
        }


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
# Each learner's own settings on top of the row's budget, and the program that runs it. The
# tabular learner is given rlem run's own defaults, so both learn with the same discount,
# exploration and learning rate (and its command line says so).
LEARNERS: dict[str, tuple[dict[str, object], Program]] = {
    "memory-greedy": ({"policy": "memory-greedy"}, "rlem run"),
    "tabular-q": ({"gamma": DEFAULTS.gamma, "explore": DEFAULTS.explore, "lr": DEFAULTS.lr}, "tabular"),
    "random": ({"policy": "random", "memory": "off"}, "rlem run"),
}

# The main job on 50 held-out maps instead of 16, one run per seed.
SEEDS = (0, 1, 2)
SEEDED = {"test_tasks": parse_tasks("1000-1049")}
# Walkthroughs of these games take 8 to 12 commands: 30 steps leave room to explore and keep
# SmolLM2's runs (about a second per decision on a 2-core CPU) to under an hour. A TextWorld state
# prompt is 200 to 480 tokens: a budget of 512 fits it and an exemplar rarely (at 600, one exemplar
# in most prompts made decisions 4 times slower).
TEXTWORLD_LLM = RunConfig(
    env="textworld:simple",
    epochs=2,
    max_steps=30,
    gamma=0.9,
    train_tasks="0-9",  # type: ignore[arg-type]  # spelled as in a TOML file
    test_tasks="1000-1009",  # type: ignore[arg-type]
    policy="hf",
    decide="guided",
    k=4,
    token_budget=512,
    num_envs=5,
)
OFF = {"memory": "off"}


@dataclass(frozen=True)
class Experiment:
    """One learner on one group of experiments: its settings, run by `rlem run --config` or by the
    tabular baseline (`bench.baselines.tabular`, given the settings it shares with rlem run)."""

    group: str
    config: RunConfig
    program: Program = "rlem run"

    def arguments(self, config: RunConfig) -> list[str]:
        """The options equivalent to `config` for this experiment's program."""
        found = options(config)
        if self.program == "tabular":
            unknown = sorted(set(found[::2]) - {"--" + n.replace("_", "-") for n in tabular.SHARED})
            if unknown:
                raise ValueError(f"the tabular baseline takes no {', '.join(unknown)}")
        return found

    def shown(self, config: RunConfig) -> str:
        """The command as recorded: a human-readable command line equivalent to what runs."""
        tool = "rlem run" if self.program == "rlem run" else f"python -m {tabular.__name__}"
        return " ".join([tool, *self.arguments(config)])

    def command(self, config: RunConfig, folder: Path) -> list[str]:
        """The command that runs `config` with its memory in `folder/memory.db` and its metrics.jsonl
        under `folder/run`; an rlem run's settings go to `folder/config.toml` first."""
        if self.program == "tabular":
            return [
                sys.executable,
                "-m",
                tabular.__name__,
                *self.arguments(config),
                "--out",
                str(folder / "run"),
            ]
        header = f"bench.learning: {folder.name.replace('__', '/')}\n{self.shown(config)}"
        path = write_config(config, folder / "config.toml", header)
        return [sys.executable, "-m", "rlem.cli", "run", "--config", str(path)] + [
            "--db", f"sqlite:///{folder / 'memory.db'}", "--out", str(folder / "run")
        ]  # fmt: skip


def experiments() -> dict[str, Experiment]:
    """Every experiment by name: `ROW/LEARNER` for the matrix, then SmolLM2's."""
    found = {
        f"{name}/{learner}": Experiment(name, RunConfig(**row.budget(), **settings), program)  # type: ignore[arg-type]
        for name, row in ROWS.items()
        for learner, (settings, program) in LEARNERS.items()
    }
    main = main_job()
    found["main-job/smollm2+memory"] = Experiment("main-job", main)
    found["main-job/smollm2"] = Experiment("main-job", main.model_copy(update=OFF))
    for seed in SEEDS:
        seeded = main.model_copy(update=SEEDED | {"seed": seed})
        found[f"main-job-seeds/smollm2+memory-seed{seed}"] = Experiment("main-job-seeds", seeded)
    # Without the memory nothing is learned and an eval decision is SmolLM2's argmax: every seed
    # gives the same eval figures, so one run stands for all.
    found["main-job-seeds/smollm2"] = Experiment("main-job-seeds", main.model_copy(update=SEEDED | OFF))
    found["textworld-smollm2/smollm2+memory"] = Experiment("textworld-smollm2", TEXTWORLD_LLM)
    found["textworld-smollm2/smollm2"] = Experiment("textworld-smollm2", TEXTWORLD_LLM.model_copy(update=OFF))
    return found


EXPERIMENTS = experiments()
# `--quick`: these replace any experiment's schedule.
QUICK = {"epochs": 1, "train_tasks": [0, 1], "test_tasks": [1000, 1001]}


def run_experiment(
    name: str, experiment: Experiment, config: RunConfig, runs: Path, *, alone: bool = True
) -> dict:
    """Run one experiment with `config` from scratch; its per-epoch eval figures and its time.
    Beside others (`alone` false) it runs on one thread."""
    folder = runs / name.replace("/", "__")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    # One thread each side by side: the experiments share the cores instead of fighting over them.
    env = os.environ | ({} if alone else {"OMP_NUM_THREADS": "1"})
    with (folder / "run.log").open("w") as log:
        command = experiment.command(config, folder)
        code = subprocess.run(command, stdout=log, stderr=log, env=env).returncode
    if code != 0:
        raise ExperimentFailed(f"{name} failed (exit code {code}); its output is in {folder / 'run.log'}")
    lines = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    return {
        "command": experiment.shown(config),
        "env": config.env,
        "train_episodes_per_epoch": len(config.train_tasks),
        "test_tasks": list(config.test_tasks),
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
            config = experiment.config.model_copy(update=QUICK) if args.quick else experiment.config
            result = run_experiment(name, experiment, config, args.runs, alone=args.jobs == 1)
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
