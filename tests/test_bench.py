"""The storage benchmark's quick mode runs and writes well-formed results (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_store_bench_quick_writes_json_and_markdown(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.store_bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((tmp_path / "store.json").read_text())
    assert {"machine", "retrieval", "updates"} <= set(data)
    assert {row["kind"] for row in data["retrieval"]} == {"flat", "hnsw"}
    for row in data["retrieval"]:
        assert row["p50_ms"] > 0 and row["p99_ms"] >= row["p50_ms"]
    for row in data["updates"]:
        assert row["skipped"] or (row["updates_per_s"] > 0 and row["no_lost_updates"] is True)
    assert "| backend |" in (tmp_path / "store.md").read_text()


def test_learning_bench_quick_writes_results_the_ratio_and_plots(tmp_path: Path):
    chosen = ["frozenlake-random/random", "frozenlake-slippery/memory-greedy"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.learning", "--quick", "--only", *chosen]
        + ["--out", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((tmp_path / "results" / "learning.json").read_text())
    assert set(data["results"]) == set(chosen)
    for run in data["results"].values():
        assert len(run["eval_success"]) == 1 and 0 <= run["eval_success"][0] <= 1
    slippery = data["slippery"]
    assert 0 < slippery["optimum"] < 1
    assert slippery["ratio"] == slippery["learned"] / slippery["optimum"]
    for plot in data["plots"]:
        assert (tmp_path / "results" / plot).stat().st_size > 0
    assert "| experiment |" in (tmp_path / "results" / "learning.md").read_text()
