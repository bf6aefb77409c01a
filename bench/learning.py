"""Learning efficiency: eval success against training episodes, side by side in one invocation.

    python -m bench.learning [--only NAME ...] [--out bench/results] [--quick]

Per environment: RLEM with memory-greedy, RLEM with SmolLM2 (`guided`), SmolLM2 without memory,
and on FrozenLake a tabular epsilon-greedy Q-learner (`bench.tabular`) and the value-iteration
optimum over the environment's own transition table. Each experiment runs on a fresh SQLite
memory in its folder under bench/runs/, and every epoch's eval success is read back from its
metrics.jsonl. Each experiment is recorded in learning.json as it finishes, next to those of
earlier or concurrent invocations, so experiments can be run one at a time or side by side.
`--quick` runs each chosen experiment for one epoch of two training and two test tasks, to check
the plumbing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench.machine import describe_machine, load_average
from bench.report import table
from dev import MAIN_JOB
from envs import make_env
from envs.value_iteration import success_within
from rlem.commands.run import parse_tasks

FROZENLAKE_RANDOM = ["--env", "frozenlake:4x4:random:20", "--epochs", "3", "--gamma", "0.9"]
RANDOM_MAPS = ["--train-tasks", "0-99", "--test-tasks", "1000-1049"]
SLIPPERY = ["--env", "frozenlake:8x8:slippery", "--epochs", "3", "--gamma", "0.99"]
SLIPPERY_TASKS = ["--train-tasks", "0-499", "--test-tasks", "10000-10199"]
# Walkthroughs of these games take 8 to 12 commands: 30 steps leave room to explore and keep
# SmolLM2's runs (about a second per decision on a 2-core CPU) to under an hour.
TEXTWORLD = [
    "--env", "textworld:simple", "--epochs", "2", "--max-steps", "30",
    "--train-tasks", "0-9", "--test-tasks", "1000-1009",
]  # fmt: skip
GREEDY = ["--policy", "memory-greedy", "--k", "8", "--num-envs", "4"]
# SmolLM2 takes a good part of a second per decision on a 2-core CPU: on random maps its runs are
# the README's main job (dev.MAIN_JOB) with and without memory, on slippery ice a short run whose
# prompts (about 190 tokens with the 8x8 map) hold the current state only.
SMOLLM2 = ["--policy", "hf", "--decide", "guided", "--k", "8", "--token-budget", "256", "--num-envs", "8"]
# Greedy play on slippery ice often lasts the 200 steps, so 16 held-out episodes are one batch of
# 16 (the fixed map makes most of each prompt a shared beginning, computed once), in 2 epochs.
SMOLLM2_SLIPPERY = [
    "--train-tasks", "0-31", "--test-tasks", "10000-10015", "--epochs", "2", "--num-envs", "16",
]  # fmt: skip
# A TextWorld state prompt is 200 to 480 tokens (1,550 states seen). 512 fits it and an exemplar
# rarely: at 600, one exemplar in most prompts made decisions 4 times slower (8 s on one core).
SMOLLM2_TW = ["--policy", "hf", "--decide", "guided", "--k", "4", "--token-budget", "512", "--num-envs", "5"]
TABULAR = ["--explore", "0.1", "--lr", "0.1"]


@dataclass(frozen=True)
class Experiment:
    """One learner on one environment group: an `rlem run` or a `bench.tabular` command line."""

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


FL, SL, TW = "frozenlake-random", "frozenlake-slippery", "textworld"
EXPERIMENTS: dict[str, Experiment] = {
    f"{FL}/memory-greedy": Experiment(FL, FROZENLAKE_RANDOM + RANDOM_MAPS + GREEDY + ["--n-step", "3"]),
    f"{FL}/smollm2+memory": Experiment(FL, MAIN_JOB),
    f"{FL}/smollm2": Experiment(FL, MAIN_JOB + ["--memory", "off"]),
    f"{FL}/tabular-q": Experiment(FL, FROZENLAKE_RANDOM + RANDOM_MAPS + TABULAR, "bench.tabular"),
    f"{FL}/random": Experiment(
        FL, FROZENLAKE_RANDOM + RANDOM_MAPS + ["--policy", "random", "--memory", "off"]
    ),
    f"{SL}/memory-greedy": Experiment(
        SL, SLIPPERY + SLIPPERY_TASKS + ["--policy", "memory-greedy", "--k", "1", "--n-step", "1",
                                         "--update-mode", "const", "--lr", "0.1", "--num-envs", "8"],
    ),
    f"{SL}/smollm2+memory": Experiment(SL, SLIPPERY + SMOLLM2 + SMOLLM2_SLIPPERY),
    f"{SL}/smollm2": Experiment(SL, SLIPPERY + SMOLLM2 + SMOLLM2_SLIPPERY + ["--memory", "off"]),
    f"{SL}/tabular-q": Experiment(SL, SLIPPERY + SLIPPERY_TASKS + TABULAR, "bench.tabular"),
    f"{TW}/memory-greedy": Experiment(TW, TEXTWORLD + GREEDY + ["--gamma", "0.9"]),
    f"{TW}/smollm2+memory": Experiment(TW, TEXTWORLD + SMOLLM2_TW + ["--gamma", "0.9"]),
    f"{TW}/smollm2": Experiment(TW, TEXTWORLD + SMOLLM2_TW + ["--memory", "off"]),
}  # fmt: skip
# Later options win, so these shrink any experiment.
QUICK = ["--epochs", "1", "--train-tasks", "0-1", "--test-tasks", "1000-1001"]


def option(arguments: list[str], name: str) -> str:
    """The last value given for `name` (later options win, as on the command line)."""
    return arguments[len(arguments) - 1 - arguments[::-1].index(name) + 1]


def run_experiment(name: str, experiment: Experiment, arguments: list[str], runs: Path) -> dict:
    """Run one experiment with `arguments` from scratch; its per-epoch eval success and its time."""
    folder = runs / name.replace("/", "__")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    subprocess.run(experiment.command(arguments, folder), check=True)
    lines = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    tool = "rlem run" if experiment.module == "rlem.cli" else f"python -m {experiment.module}"
    return {
        "command": f"{tool} " + " ".join(arguments),
        "env": option(arguments, "--env"),
        "train_episodes_per_epoch": len(parse_tasks(option(arguments, "--train-tasks"))),
        "test_tasks": parse_tasks(option(arguments, "--test-tasks")),
        "eval_success": [row["success_rate"] for row in lines if row["split"] == "eval"],
        "train_success": [row["success_rate"] for row in lines if row["split"] == "train"],
        "eval_return": [row["mean_return"] for row in lines if row["split"] == "eval"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def optimum(spec: str, seeds: list[int]) -> float:
    """The best achievable success within the step limit, averaged over the tasks `seeds` name:
    finite-horizon value iteration over each task's transition table (`env.unwrapped.P`)."""
    env = make_env(spec)
    chances = []
    for seed in seeds:
        env.reset(seed=seed)
        chances.append(success_within(env.env.unwrapped.P, env.step_limit)[env.state])
    env.close()
    return float(np.mean(chances))


def optima(results: dict) -> dict[str, float]:
    """Per FrozenLake group, the optimum on the largest test set any of its experiments used."""
    found = {}
    for group in sorted({EXPERIMENTS[name].group for name in results}):
        if group.startswith("frozenlake"):
            widest = max(
                (r for n, r in results.items() if EXPERIMENTS[n].group == group),
                key=lambda r: len(r["test_tasks"]),
            )
            found[group] = optimum(widest["env"], widest["test_tasks"])
    return found


def plot(results: dict, out: Path, best: dict[str, float]) -> list[str]:
    """One PNG per environment: eval success against training episodes, a line per learner, and
    beside it eval return where that tells more (a TextWorld score short of a win)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for group in sorted({e.group for e in EXPERIMENTS.values()}):
        names = [n for n, e in EXPERIMENTS.items() if e.group == group and n in results]
        if not names:
            continue
        metrics = ["eval_success"]
        if any(
            results[n].get("eval_return", results[n]["eval_success"]) != results[n]["eval_success"]
            for n in names
        ):
            metrics.append("eval_return")
        figure, panels = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 4), squeeze=False)
        for metric, axes in zip(metrics, panels[0], strict=True):
            for name in names:
                result = results[name]
                if metric not in result:
                    continue
                per_epoch = result["train_episodes_per_epoch"]
                seen = [per_epoch * (epoch + 1) for epoch in range(len(result[metric]))]
                label = f"{name.split('/', 1)[1]} ({len(result['test_tasks'])} test tasks)"
                axes.plot(seen, result[metric], marker="o", label=label)
            if group in best and metric == "eval_success":
                axes.axhline(best[group], linestyle="--", color="gray", label="value-iteration optimum")
            axes.set(xlabel="training episodes", ylabel=metric.replace("_", " "), title=group)
            axes.set_ylim(0, 1.05 if metric == "eval_success" else None)
            axes.set_xscale("log")
            axes.legend(fontsize="small")
        path = out / f"learning_{group}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path.name)
    return written


def render(document: dict) -> str:
    """The markdown report."""
    rows = [
        [
            name,
            r["train_episodes_per_epoch"],
            len(r["test_tasks"]),
            " / ".join(f"{s:.2f}" for s in r["eval_success"]),
            " / ".join(f"{s:.2f}" for s in r["eval_return"]) if "eval_return" in r else "-",
            r["seconds"],
            f"`{r['command']}`",
        ]
        for name, r in sorted(document["results"].items())
    ]
    lines = ["# Learning efficiency: eval success after each epoch", ""]
    headers = ["experiment", "training episodes per epoch", "test tasks", "eval success by epoch"]
    lines += table(headers + ["eval return by epoch", "seconds", "command"], rows)
    if document.get("optima"):
        lines += ["", "Value-iteration optimum on the test tasks, within the step limit:"]
        lines += [f"- {group}: {value:.3f}" for group, value in sorted(document["optima"].items())]
    if "slippery" in document:
        s = document["slippery"]
        lines += [
            "",
            f"Slippery FrozenLake 8x8: learned greedy policy (memory-greedy) {s['learned']:.3f}, "
            f"value-iteration optimum {s['optimum']:.3f}, ratio {s['ratio']:.2f}.",
        ]
    lines += ["", f"Machine: {json.dumps(document['machine'])}", ""]
    return "\n".join(lines)


def recorded(path: Path) -> dict:
    """The results document at `path`, keeping only experiments that still exist, with test tasks."""
    document = json.loads(path.read_text()) if path.exists() else {"results": {}}
    document["results"] = {
        name: result
        for name, result in document["results"].items()
        if name in EXPERIMENTS and "test_tasks" in result
    }
    return document


def save(out: Path, document: dict, load_start: float | None) -> None:
    """Optima, the slippery-map ratio, the machine, the plots, learning.json and learning.md."""
    document["optima"] = optima(document["results"])
    slippery = document["results"].get("frozenlake-slippery/memory-greedy")
    if slippery:
        best, learned = document["optima"]["frozenlake-slippery"], slippery["eval_success"][-1]
        document["slippery"] = {"learned": learned, "optimum": best, "ratio": learned / best}
    document["machine"] = describe_machine(None, load_start)
    document["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out.mkdir(parents=True, exist_ok=True)
    document["plots"] = plot(document["results"], out, document["optima"])
    (out / "learning.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / "learning.md").write_text(render(document))


def main() -> None:
    """Run the chosen experiments (default: all), recording each in the results as it finishes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), default=sorted(EXPERIMENTS))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--runs", type=Path, default=Path("bench/runs"))
    parser.add_argument("--quick", action="store_true", help="One tiny epoch per experiment.")
    args = parser.parse_args()
    load_start = load_average()
    for name in args.only:
        experiment = EXPERIMENTS[name]
        arguments = experiment.arguments + (QUICK if args.quick else [])
        result = run_experiment(name, experiment, arguments, args.runs)
        # Read again just before writing: another invocation may have recorded its own meanwhile.
        document = recorded(args.out / "learning.json")
        document["results"][name] = result
        save(args.out, document, load_start)
    print((args.out / "learning.md").read_text())


if __name__ == "__main__":
    main()
