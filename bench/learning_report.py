"""The learning benchmark's results: optima, the matrix's verdicts, plots, learning.json and .md.

A matrix row passes when memory-greedy reaches at least 0.9x tabular Q-learning on the row's
figure and beats random. For eval success that is a plain ratio; for mean return, which may be
negative, it is a ratio of gains over random: (memory-greedy - random) / (tabular - random).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.machine import describe_machine
from bench.markdown import table
from envs import make_env
from envs.value_iteration import best_within

if TYPE_CHECKING:
    from bench.learning import Experiment, Row

# Memory-greedy's share of tabular Q-learning's figure (or gain over random) that passes a row.
ENOUGH = 0.9
LEARNERS = ("memory-greedy", "tabular-q", "random")
FIGURE = {"success": "eval_success", "return": "eval_return"}


def optimum(spec: str, seeds: list[int]) -> float:
    """The best achievable expected return within the step limit (success where reward is 1 at the
    goal), averaged over the start states of `seeds`: value iteration over `env.unwrapped.P`."""
    env = make_env(spec)
    limit = env.env.spec.max_episode_steps
    # Solved once per distinct table (one for a fixed map); each kept so that no id is reused.
    solved: dict[int, tuple[dict, np.ndarray]] = {}
    found = []
    for seed in seeds:
        env.reset(seed=seed)
        transitions = env.env.unwrapped.P
        if id(transitions) not in solved:
            solved[id(transitions)] = (transitions, best_within(transitions, limit))
        found.append(solved[id(transitions)][1][int(env.state)])
    env.close()
    return float(np.mean(found))


def verdict(row: Row, runs: dict[str, dict], best: float | None) -> dict[str, Any]:
    """The row's last-epoch figures per learner, the ratio to tabular Q-learning, and whether it passes."""
    figure = {learner: runs[learner][FIGURE[row.metric]][-1] for learner in LEARNERS if learner in runs}
    mine, tabular, chance = (figure.get(learner) for learner in LEARNERS)
    found: dict[str, Any] = {"metric": row.metric, "last": figure, "optimum": best}
    if mine is None or tabular is None or chance is None:
        return found | {"ratio": None, "beats_random": None, "passes": None}
    base = 0.0 if row.metric == "success" else chance
    gain = tabular - base
    ratio = (mine - base) / gain if gain > 0 else None
    enough = mine - base >= ENOUGH * gain if gain > 0 else mine >= tabular
    beats = mine > chance
    to_optimum = (mine - base) / (best - base) if best is not None and best > base else None
    return found | {
        "ratio": ratio,
        "beats_random": beats,
        "passes": bool(enough and beats),
        "to_optimum": to_optimum,
    }


def seed_summary(results: dict[str, dict]) -> dict[str, dict]:
    """Per learner of the seeded main job: eval success by epoch over the seeds (mean, min, max)."""
    by_learner: dict[str, list[list[float]]] = {}
    for name, result in results.items():
        group, learner = name.split("/", 1)
        if group == "main-job-seeds":
            by_learner.setdefault(learner.rsplit("-seed", 1)[0], []).append(result["eval_success"])
    summary = {}
    for learner, runs in sorted(by_learner.items()):
        epochs = min(len(r) for r in runs)
        grid = np.array([r[:epochs] for r in runs])
        summary[learner] = {
            "seeds": len(runs),
            "mean": grid.mean(axis=0).round(4).tolist(),
            "min": grid.min(axis=0).tolist(),
            "max": grid.max(axis=0).tolist(),
        }
    return summary


def by_epoch(values: list[float], digits: int = 2) -> str:
    """Per-epoch figures as `a / b / c`."""
    return " / ".join(f"{v:.{digits}f}" for v in values)


def matrix_lines(document: dict, rows: dict[str, Row]) -> list[str]:
    """The matrix table."""
    lines = []
    for name, row in rows.items():
        runs = {learner: document["results"].get(f"{name}/{learner}") for learner in LEARNERS}
        if not any(runs.values()):
            continue
        found = document["verdicts"].get(name, {})
        # Returns of a few tenths (Blackjack) need more digits than returns in the hundreds.
        shown = [abs(v) for run in runs.values() if run for v in run[FIGURE[row.metric]]]
        digits = 2 if row.metric == "success" else 1 if max(shown) >= 1 else 3
        cells = [by_epoch(run[FIGURE[row.metric]], digits) if run else "-" for run in runs.values()]
        best = found.get("optimum")
        lines.append(
            [
                name,
                f"eval {row.metric}",
                *cells,
                "-" if best is None else f"{best:.{digits if row.metric == 'return' else 3}f}",
                "-" if found.get("ratio") is None else f"{found['ratio']:.2f}",
                found.get("beats_random"),
                {True: "passes", False: "FAILS", None: "-"}[found.get("passes")],
            ]
        )
    headers = ["row", "figure", "memory-greedy by epoch", "tabular Q by epoch", "random by epoch"]
    return table(headers + ["optimum", "vs tabular", "beats random", "verdict"], lines)


def render(document: dict, experiments: dict[str, Experiment], rows: dict[str, Row]) -> str:
    """The markdown report: the matrix, SmolLM2's runs, the seeds, every command."""
    lines = [
        "# Learning efficiency",
        "",
        "## The learning matrix",
        "",
        "Eval figures after each epoch, on held-out tasks. A row passes when memory-greedy reaches "
        f"{ENOUGH}x tabular Q-learning's figure (for returns, {ENOUGH}x its gain over random) and "
        "beats random.",
        "",
        *matrix_lines(document, rows),
    ]
    llm = [
        [
            name,
            r["train_episodes_per_epoch"],
            len(r["test_tasks"]),
            by_epoch(r["eval_success"]),
            by_epoch(r["eval_return"]),
            by_epoch(r["train_success"]),
            r["seconds"],
        ]
        for name, r in document["results"].items()
        if experiments[name].group not in rows
    ]
    if llm:
        headers = ["experiment", "training episodes per epoch", "test tasks", "eval success by epoch"]
        lines += ["", "## SmolLM2", ""]
        lines += table(headers + ["eval return by epoch", "train success by epoch", "seconds"], llm)
    if document.get("seeds"):
        lines += ["", "The main job's configuration on 50 held-out maps, one run per seed:", ""]
        lines += table(
            ["learner", "seeds", "mean eval success by epoch", "lowest", "highest"],
            [
                [learner, s["seeds"], by_epoch(s["mean"], 3), by_epoch(s["min"]), by_epoch(s["max"])]
                for learner, s in document["seeds"].items()
            ],
        )
    lines += ["", "## Commands", ""]
    lines += [f"- {name}: `{r['command']}` ({r['seconds']} s)" for name, r in document["results"].items()]
    lines += ["", f"Machine: {json.dumps(document['machine'])}", ""]
    return "\n".join(lines)


def save(
    out: Path,
    document: dict,
    load_start: float | None,
    experiments: dict[str, Experiment],
    rows: dict[str, Row],
) -> None:
    """Optima, verdicts, the seed summary, the machine, the plots, learning.json and learning.md."""
    from bench.learning_plots import plot

    results = document["results"]
    document["results"] = {name: results[name] for name in experiments if name in results}
    document["verdicts"] = {}
    for name, row in rows.items():
        runs = {
            learner: document["results"][f"{name}/{learner}"]
            for learner in LEARNERS
            if f"{name}/{learner}" in document["results"]
        }
        if not runs:
            continue
        best = optimum(row.env, next(iter(runs.values()))["test_tasks"]) if row.optimum else None
        document["verdicts"][name] = verdict(row, runs, best)
    document["seeds"] = seed_summary(document["results"])
    document["machine"] = describe_machine(None, load_start)
    document["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.mkdir(parents=True, exist_ok=True)
    document["plots"] = plot(document, out, experiments, rows)
    (out / "learning.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / "learning.md").write_text(render(document, experiments, rows))
