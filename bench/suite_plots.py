"""PNG plots of `rlem bench` sections, where a picture says more than the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def retrieval_plot(section: dict[str, Any], path: Path) -> None:
    """p50 (solid) and p99 (dotted) against stored states, log-log: flat, HNSW, the loop, the bound."""
    plt = pyplot()
    rows = section["sizes"]
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    for key, label, colour in (
        ("flat", "FAISS flat", "C0"),
        ("hnsw", "FAISS HNSW", "C1"),
        ("linear", "paper's linear loop", "C3"),
    ):
        measured = [r for r in rows if r[f"{key}_p50_ms"] is not None]
        states = [r["states"] for r in measured]
        axes.plot(
            states, [r[f"{key}_p50_ms"] for r in measured], marker="o", color=colour, label=f"{label} p50"
        )
        axes.plot(
            states, [r[f"{key}_p99_ms"] for r in measured], linestyle=":", color=colour, label=f"{label} p99"
        )
    axes.plot(
        [r["states"] for r in rows],
        [r["bound_ms"] for r in rows],
        linestyle="--",
        color="gray",
        label=f"flat scan at {section['bandwidth_gbs']} GB/s",
    )
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="stored states",
        ylabel="ms per query (k=8)",
        title="Retrieval latency",
    )
    axes.legend(fontsize="small")
    axes.grid(True, which="major", alpha=0.3)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def writes_plot(section: dict[str, Any], path: Path) -> None:
    """Updates/s against writer processes, one line per backend and transaction size."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    for backend in sorted({r["backend"] for r in section["rows"]}):
        for size in section["params"]["per_transaction"]:
            ran = [
                r
                for r in section["rows"]
                if (r["backend"], r["per_transaction"], r["skipped"]) == (backend, size, None)
            ]
            if ran:
                axes.plot([r["writers"] for r in ran], [r["updates_per_s"] for r in ran], marker="o",
                          label=f"{backend}, {size} a transaction")  # fmt: skip
    writers = section["params"]["writer_counts"]
    axes.set(
        xlabel="writer processes",
        ylabel="updates/s",
        title="Update throughput",
        xticks=writers,
        yscale="log",
    )
    axes.legend()
    axes.grid(True, alpha=0.3)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def steps_plot(section: dict[str, Any], path: Path) -> None:
    """Stacked p50 of each part of an agent step, one bar per store size and index."""
    plt = pyplot()
    rows = section["rows"]
    labels = [f"{r['states']:,} {r['index']}" for r in rows]
    figure, axes = plt.subplots(figsize=(6.5, 0.6 * len(rows) + 1.5))
    left = [0.0] * len(rows)
    for name in ("embed", "search", "prompt", "update"):
        widths = [r["parts"][name]["p50_ms"] for r in rows]
        axes.barh(labels, widths, left=left, label=name)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set(xlabel="ms (p50 of each part)", title="Agent step without the LLM")
    axes.legend(ncols=4, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.25))
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def service_plot(section: dict[str, Any], path: Path) -> None:
    """Steps/s against client processes, one panel per policy, in process with 8 envs as a line."""
    plt = pyplot()
    policies = list(dict.fromkeys(r["policy"] for r in section["rows"]))
    figure, panels = plt.subplots(1, len(policies), figsize=(4.5 * len(policies), 3.8), squeeze=False)
    for axes, policy in zip(panels[0], policies, strict=True):
        mine = [r for r in section["rows"] if r["policy"] == policy]
        remote = [r for r in mine if r["where"] == "rlem serve"]
        axes.plot([r["clients"] for r in remote], [r["steps_per_s"] for r in remote], marker="o",
                  label="rlem serve")  # fmt: skip
        for r, style in zip([r for r in mine if r["where"] == "in process"], ("--", ":"), strict=False):
            axes.axhline(
                r["steps_per_s"], linestyle=style, color="gray", label=f"in process, {r['envs']} envs"
            )
        axes.set(xlabel="client processes", ylabel="environment steps/s", title=policy,
                 xticks=[r["clients"] for r in remote], ylim=(0, None))  # fmt: skip
        axes.legend(fontsize="small")
        axes.grid(True, alpha=0.3)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


PLOTTERS = {"retrieval": retrieval_plot, "writes": writes_plot, "steps": steps_plot, "service": service_plot}


def plot_sections(sections: dict[str, Any], out: Path) -> list[str]:
    """Draw the plot of every section that has one; the file names written."""
    written = []
    for name, plotter in PLOTTERS.items():
        if name in sections:
            plotter(sections[name], out / f"{name}.png")
            written.append(f"{name}.png")
    return written
