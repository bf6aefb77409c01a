"""Per-episode records, per-epoch aggregates, and the learning-curve plot of a run."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from statistics import fmean

from rlem.agent.sessions import EpisodeResult

METRIC_FIELDS = [
    "epoch",
    "split",
    "episodes",
    "success_rate",
    "mean_return",
    "mean_steps",
    "invalid_action_rate",
    "fallback_rate",
    "advice_following_rate",
    "decision_latency_s",
    "memory_size",
]


def episode_record(finished: EpisodeResult, epoch: int, memory_size: int | None) -> dict:
    """One line of episodes.jsonl."""
    decisions = finished.decisions
    asked = [d.latency_s for d in decisions if not d.explored]
    offered = [a for a in finished.advice if a is not None]
    return {
        "key": finished.key,
        "epoch": epoch,
        "split": "train" if finished.training else "eval",
        "seed": finished.log.seed,
        "success": finished.success,
        "return": finished.log.episode_return,
        "steps": len(decisions),
        "unparsed": sum(not d.parsed for d in decisions),
        "fallbacks": sum(d.fell_back for d in decisions),
        "advice_offered": len(offered),
        "advice_followed": sum(offered),
        "decision_latency_s": fmean(asked) if asked else None,
        "seconds": finished.seconds,
        "memory_size": memory_size,
    }


def mean_of(values: Iterable[float | None]) -> float | None:
    """The mean of the values that exist (None for episodes without a policy decision)."""
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def aggregate(records: Sequence[dict]) -> list[dict]:
    """One row per (epoch, split), in epoch order, train before eval."""
    rows = []
    keys = sorted({(r["epoch"], r["split"]) for r in records}, key=lambda k: (k[0], k[1] != "train"))
    for epoch, split in keys:
        group = [r for r in records if (r["epoch"], r["split"]) == (epoch, split)]
        decisions = sum(r["steps"] for r in group)
        offered = sum(r["advice_offered"] for r in group)
        rows.append(
            {
                "epoch": epoch,
                "split": split,
                "episodes": len(group),
                "success_rate": fmean(r["success"] for r in group),
                "mean_return": fmean(r["return"] for r in group),
                "mean_steps": fmean(r["steps"] for r in group),
                "invalid_action_rate": sum(r["unparsed"] for r in group) / decisions if decisions else 0.0,
                "fallback_rate": sum(r["fallbacks"] for r in group) / decisions if decisions else 0.0,
                "advice_following_rate": sum(r["advice_followed"] for r in group) / offered
                if offered
                else None,
                "decision_latency_s": mean_of(r["decision_latency_s"] for r in group),
                "memory_size": group[-1]["memory_size"],
            }
        )
    return rows


def write_metrics(out: Path, rows: Sequence[dict]) -> None:
    """metrics.jsonl and metrics.csv, rewritten whole."""
    (out / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with (out / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def plot_learning_curve(out: Path, rows: Sequence[dict], title: str) -> Path:
    """Success rate per epoch for training and evaluation episodes, as learning_curve.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(6, 4))
    for split, style in (("train", "o-"), ("eval", "s--")):
        points = [(r["epoch"], r["success_rate"]) for r in rows if r["split"] == split]
        if points:
            axes.plot(*zip(*points, strict=True), style, label=split)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("success rate")
    axes.set_ylim(-0.05, 1.05)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    path = out / "learning_curve.png"
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
