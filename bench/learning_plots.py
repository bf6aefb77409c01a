"""The learning benchmark's plots: the matrix as small multiples, and SmolLM2's runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from bench.learning_report import FIGURE, LEARNERS, seed_summary

if TYPE_CHECKING:
    from bench.learning import Experiment, Row

MATRIX_PNG = "learning_matrix.png"
SMOLLM2_PNG = "learning_smollm2.png"


def runs(seeds: int) -> str:
    """How a line of the seeded main job was made: one run, or the mean over several seeds."""
    return "one run" if seeds == 1 else f"mean of {seeds} seeds"


def seen(result: dict, epochs: int) -> list[int]:
    """Training episodes seen after each epoch."""
    return [result["train_episodes_per_epoch"] * (epoch + 1) for epoch in range(epochs)]


def plot_matrix(document: dict, out: Path, rows: dict[str, Row]) -> str | None:
    """One panel per environment: its figure against training episodes, a line per learner."""
    import matplotlib.pyplot as plt

    shown = [n for n in rows if any(f"{n}/{learner}" in document["results"] for learner in LEARNERS)]
    if not shown:
        return None
    columns = min(4, len(shown))
    lines = math.ceil(len(shown) / columns)
    figure, panels = plt.subplots(lines, columns, figsize=(4 * columns, 3.2 * lines), squeeze=False)
    for axes, name in zip(panels.flat, shown, strict=False):
        row = rows[name]
        for learner in LEARNERS:
            result = document["results"].get(f"{name}/{learner}")
            if result:
                values = result[FIGURE[row.metric]]
                axes.plot(seen(result, len(values)), values, marker="o", label=learner)
        best = document["verdicts"].get(name, {}).get("optimum")
        if best is not None:
            axes.axhline(best, linestyle="--", color="gray", label="optimum")
        axes.set(title=name, xlabel="training episodes", ylabel=f"eval {row.metric}")
        if row.metric == "success":
            axes.set_ylim(-0.03, 1.05)
        axes.legend(fontsize="x-small")
    for axes in list(panels.flat)[len(shown) :]:
        axes.axis("off")
    figure.tight_layout()
    figure.savefig(out / MATRIX_PNG, dpi=90)
    plt.close(figure)
    return MATRIX_PNG


def plot_smollm2(
    document: dict, out: Path, experiments: dict[str, Experiment], rows: dict[str, Row]
) -> str | None:
    """SmolLM2 with and without the memory: the main job, its seeds (mean and range), TextWorld."""
    import matplotlib.pyplot as plt

    groups = sorted({experiments[n].group for n in document["results"]} - set(rows))
    if not groups:
        return None
    figure, panels = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.6), squeeze=False)
    summary = seed_summary(document["results"])
    for axes, group in zip(panels[0], groups, strict=True):
        metric = "eval_return" if group.startswith("textworld") else "eval_success"
        if group == "main-job-seeds":
            some = next(r for n, r in document["results"].items() if experiments[n].group == group)
            for learner, s in summary.items():
                x = seen(some, len(s["mean"]))
                axes.plot(x, s["mean"], marker="o", label=f"{learner} ({runs(s['seeds'])})")
                axes.fill_between(x, s["min"], s["max"], alpha=0.2)
        else:
            for name, result in document["results"].items():
                if experiments[name].group == group:
                    values = result[metric]
                    axes.plot(seen(result, len(values)), values, marker="o", label=name.split("/")[1])
        axes.set(title=group, xlabel="training episodes", ylabel=metric.replace("_", " "))
        if metric == "eval_success":
            axes.set_ylim(-0.03, 1.05)
        axes.legend(fontsize="x-small")
    figure.tight_layout()
    figure.savefig(out / SMOLLM2_PNG, dpi=90)
    plt.close(figure)
    return SMOLLM2_PNG


def plot(document: dict, out: Path, experiments: dict[str, Experiment], rows: dict[str, Row]) -> list[str]:
    """Every plot that has results to show; their file names."""
    import matplotlib

    matplotlib.use("Agg")
    drawn = [plot_matrix(document, out, rows), plot_smollm2(document, out, experiments, rows)]
    return [name for name in drawn if name]
