"""Does the memory learn? Eval success per epoch for the runs the acceptance criteria name.

    python -m bench.learning [--only NAME ...] [--out bench/results] [--quick]

Each experiment is one `rlem run` on a fresh SQLite memory (its folder under bench/runs/); the
eval success of every epoch is read back from its metrics.jsonl. For slippery FrozenLake 8x8 the
optimum comes from value iteration over the environment's own transition table, and the ratio
of the learned greedy policy's last eval success to it is reported. Results of earlier
invocations stay in learning.json, so experiments can be run one at a time. `--quick` runs each
chosen experiment for one epoch of two training and two test tasks, to check the plumbing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.machine import describe_machine, load_average
from bench.report import table
from envs import make_env
from envs.value_iteration import success_within

FROZENLAKE_RANDOM = [
    "--env", "frozenlake:4x4:random:20", "--epochs", "3", "--train-tasks", "0-99",
    "--test-tasks", "1000-1049", "--num-envs", "4",
]  # fmt: skip
SLIPPERY = [
    "--env", "frozenlake:8x8:slippery", "--epochs", "3", "--train-tasks", "0-499",
    "--test-tasks", "10000-10199", "--num-envs", "8",
]  # fmt: skip
TEXTWORLD = [
    "--env", "textworld:simple", "--epochs", "3", "--train-tasks", "0-9", "--test-tasks", "1000-1009",
    "--num-envs", "5",
]  # fmt: skip
GREEDY = ["--policy", "memory-greedy", "--gamma", "0.9", "--k", "8"]
SMOLLM2 = ["--policy", "hf", "--decide", "guided", "--k", "4"]

EXPERIMENTS: dict[str, tuple[str, list[str]]] = {
    "frozenlake-random/memory-greedy": ("frozenlake-random", FROZENLAKE_RANDOM + GREEDY + ["--n-step", "3"]),
    "frozenlake-random/random": (
        "frozenlake-random", FROZENLAKE_RANDOM + ["--policy", "random", "--memory", "off"]
    ),
    "frozenlake-slippery/memory-greedy": (
        "frozenlake-slippery",
        SLIPPERY + ["--policy", "memory-greedy", "--gamma", "0.99", "--k", "1", "--n-step", "1",
                    "--update-mode", "const", "--lr", "0.1"],
    ),
    "textworld/memory-greedy": ("textworld", TEXTWORLD + GREEDY),
    "textworld/smollm2+memory": ("textworld", TEXTWORLD + SMOLLM2 + ["--gamma", "0.9"]),
    "textworld/smollm2": ("textworld", TEXTWORLD + SMOLLM2 + ["--memory", "off"]),
}  # fmt: skip
# Later options win, so these shrink any experiment.
QUICK = ["--epochs", "1", "--train-tasks", "0-1", "--test-tasks", "1000-1001"]


def run_experiment(name: str, arguments: list[str], runs: Path) -> dict:
    """Run one experiment from scratch and return its per-epoch eval success and its time."""
    folder = runs / name.replace("/", "__")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "rlem.cli", "run", *arguments]
    command += ["--db", f"sqlite:///{folder / 'memory.db'}", "--out", str(folder / "run")]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    lines = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    return {
        "command": "rlem run " + " ".join(arguments),
        "eval_success": [row["success_rate"] for row in lines if row["split"] == "eval"],
        "train_success": [row["success_rate"] for row in lines if row["split"] == "train"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def slippery_optimum() -> float:
    """The optimal policy's success probability from the start of slippery FrozenLake 8x8 within its
    step limit (without the limit it is 1: careful play never falls in)."""
    env = make_env("frozenlake:8x8:slippery")
    env.reset(seed=0)
    optimum = success_within(env.env.unwrapped.P, env.step_limit)
    env.close()
    return float(optimum[0])


def plot(results: dict, out: Path, optimum: float | None) -> list[str]:
    """One PNG per environment: eval success against epochs, a line per experiment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for env in sorted({group for group, _ in EXPERIMENTS.values()}):
        names = [n for n, (group, _) in EXPERIMENTS.items() if group == env and n in results]
        if not names:
            continue
        figure, axes = plt.subplots(figsize=(6, 4))
        for name in names:
            success = results[name]["eval_success"]
            axes.plot(range(1, len(success) + 1), success, marker="o", label=name.split("/", 1)[1])
        if env == "frozenlake-slippery" and optimum is not None:
            axes.axhline(optimum, linestyle="--", color="gray", label="value iteration")
        epochs = max(len(results[name]["eval_success"]) for name in names)
        axes.set(xlabel="epoch", ylabel="eval success", title=env, ylim=(0, 1), xticks=range(1, epochs + 1))
        axes.legend()
        path = out / f"learning_{env}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path.name)
    return written


def render(document: dict) -> str:
    """The markdown report."""
    rows = [
        [name, " / ".join(f"{s:.2f}" for s in r["eval_success"]), r["seconds"], f"`{r['command']}`"]
        for name, r in document["results"].items()
    ]
    lines = ["# Learning: eval success per epoch", ""]
    lines += table(["experiment", "eval success by epoch", "seconds", "command"], rows)
    if "slippery" in document:
        s = document["slippery"]
        lines += [
            "",
            f"Slippery FrozenLake 8x8: learned greedy policy {s['learned']:.3f}, value-iteration "
            f"optimum {s['optimum']:.3f}, ratio {s['ratio']:.2f}.",
        ]
    lines += ["", f"Machine: {json.dumps(document['machine'])}", ""]
    return "\n".join(lines)


def main() -> None:
    """Run the chosen experiments (default: all) and merge them into the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(EXPERIMENTS), default=sorted(EXPERIMENTS))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--runs", type=Path, default=Path("bench/runs"))
    parser.add_argument("--quick", action="store_true", help="One tiny epoch per experiment.")
    args = parser.parse_args()
    load_start = load_average()
    path = args.out / "learning.json"
    document = json.loads(path.read_text()) if path.exists() else {"results": {}}
    for name in args.only:
        arguments = EXPERIMENTS[name][1] + (QUICK if args.quick else [])
        document["results"][name] = run_experiment(name, arguments, args.runs)
    slippery = document["results"].get("frozenlake-slippery/memory-greedy")
    if slippery:
        optimum = slippery_optimum()
        learned = slippery["eval_success"][-1]
        document["slippery"] = {"learned": learned, "optimum": optimum, "ratio": learned / optimum}
    document["machine"] = describe_machine(None, load_start)
    document["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    args.out.mkdir(parents=True, exist_ok=True)
    document["plots"] = plot(document["results"], args.out, document.get("slippery", {}).get("optimum"))
    path.write_text(json.dumps(document, indent=1) + "\n")
    (args.out / "learning.md").write_text(render(document))
    print((args.out / "learning.md").read_text())


if __name__ == "__main__":
    main()
