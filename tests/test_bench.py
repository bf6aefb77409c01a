"""The storage benchmark's quick mode runs and writes well-formed results (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bandwidth import copy_bandwidth_gbs, scan_bound_ms
from bench.linear_scan import LinearMemory
from bench.retrieval_compare import flat_ids
from bench.synthetic import Clusters

ROOT = Path(__file__).resolve().parents[1]


def test_linear_scan_scores_every_key_and_finds_what_flat_faiss_finds():
    vectors, _ = Clusters.make(20, 384, 0.05, seed=1).sample(500, seed=2)
    queries, _ = Clusters.make(20, 384, 0.05, seed=1).sample(5, seed=3)
    memory = LinearMemory(vectors)
    for query in queries:
        ranked = memory.ranked(query)
        assert len(ranked) == len(vectors)
        scores = [score for _, _, score in ranked]
        assert scores == sorted(scores, reverse=True)
    assert [memory.search(q, 8) for q in queries] == flat_ids(vectors, queries, 8)


def test_scan_bound_is_bytes_over_bandwidth():
    assert scan_bound_ms(100_000, 384, 40.0) == 100_000 * 384 * 4 / 40e9 * 1000
    assert copy_bandwidth_gbs(8, repeats=2) > 0


@pytest.mark.slow
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


@pytest.mark.slow
def test_learning_bench_quick_writes_the_matrix_its_verdicts_and_plots(tmp_path: Path):
    chosen = ["taxi/memory-greedy", "taxi/tabular-q", "taxi/random", "frozenlake-4x4/random"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.learning", "--quick", "--jobs", "2", "--only", *chosen]
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
        assert run["train_episodes_per_epoch"] == 2 and run["test_tasks"] == [1000, 1001]
    taxi = data["verdicts"]["taxi"]
    assert set(taxi["last"]) == {"memory-greedy", "tabular-q", "random"} and taxi["metric"] == "return"
    assert taxi["passes"] in (True, False) and 0 < taxi["optimum"] < 20
    # The fixed map has a path, and without slipping it is walked well within the step limit.
    lake = data["verdicts"]["frozenlake-4x4"]
    assert lake["optimum"] == 1.0 and lake["passes"] is None
    assert data["plots"] == ["learning_matrix.png"]
    assert (tmp_path / "results" / "learning_matrix.png").stat().st_size > 0
    assert "| taxi | eval return |" in (tmp_path / "results" / "learning.md").read_text()
