"""`rlem bench --quick` runs every benchmark through the real CLI and writes well-formed results.

No timing is asserted: figures on shared machines drift. PostgreSQL comes from RLEM_TEST_PG_URL; its
write rows may only be skipped when the server is missing and not required.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres import PG_PROBLEM, PG_URL, REQUIRE_PG


def rlem(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlem.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=900
    )


def check_retrieval(section: dict) -> None:
    assert section["bandwidth_gbs"] > 0
    assert [row["states"] for row in section["sizes"]] == list(section["params"]["sizes"])
    for row in section["sizes"]:
        for way in ("flat", "hnsw", "store_flat", "store_hnsw", "store_flat_cold", "store_hnsw_cold"):
            assert 0 < row[f"{way}_p50_ms"] <= row[f"{way}_p99_ms"]
        assert row["store_flat_open_s"] > 0 and 0 <= row["store_hnsw_recall_vs_flat"] <= 1
        assert row["bytes_scanned"] == row["states"] * 384 * 4 and row["bound_ms"] > 0
        if row["linear_skipped"] is not None:
            # The loop's time budget is wall time: on a loaded machine even a small size may not fit.
            assert "budget" in row["linear_skipped"] and row.get("linear_p50_ms") is None
            continue
        assert 0 < row["linear_p50_ms"] <= row["linear_p99_ms"]
        assert row["linear_recall_vs_flat"] == 1.0  # both are exact
        assert row["speedup_vs_linear"] == round(row["linear_p50_ms"] / row["flat_p50_ms"], 1)


def check_writes(section: dict) -> None:
    backends = {row["backend"] for row in section["rows"]}
    assert backends == {"sqlite", "postgresql"}
    for row in section["rows"]:
        if row["backend"] == "postgresql" and PG_PROBLEM and not REQUIRE_PG:
            assert row["skipped"]
            continue
        assert row["skipped"] is None and row["updates_per_s"] > 0 and row["no_lost_updates"] is True
        assert row["p50_ms"] <= row["p99_ms"]
    assert {row["per_transaction"] for row in section["rows"]} == set(section["params"]["per_transaction"])
    assert section["no_lost_updates"] is True


def check_steps(section: dict) -> None:
    for row in section["rows"]:
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert set(row["parts"]) == {"embed", "search", "prompt", "update"}
        assert abs(sum(part["share"] for part in row["parts"].values()) - 1) < 0.01


def check_policy(section: dict) -> None:
    configurations = {(r["backend"], r["mode"], r["batch"]) for r in section["rows"]}
    wanted = {("hf", mode, batch) for mode in ("generate", "score") for batch in (1, 8)}
    assert wanted <= configurations
    assert all(r["decisions_per_s"] > 0 for r in section["rows"])
    # Without the llamacpp extra its rows are left out (CI installs it: there they must be measured).
    natives = {mode for backend, mode, _ in configurations if backend == "llamacpp"}
    assert natives == {"generate", "score"} or (not os.environ.get("CI") and not natives)
    measured = {k: v for k, v in section["ratios"].items() if natives or not k.startswith("llamacpp")}
    assert all(value > 0 for value in measured.values()) and len(measured) >= 4
    # Sharing the prompts' beginning is exact: the same scores as every prompt computed whole.
    assert section["sharing"]["speedup"] > 0 and section["sharing"]["max_score_gap"] < 1e-3


def check_service(section: dict) -> None:
    rows = section["rows"]
    assert {(r["where"], r.get("clients", r.get("envs"))) for r in rows} == {
        ("in process", 1), ("in process", 8), ("rlem serve", 1), ("rlem serve", 4)
    }  # fmt: skip
    for row in rows:
        assert (
            row["steps"] > 0 and row["steps_per_s"] > 0 and 0 < row["latency_p50_ms"] <= row["latency_p99_ms"]
        )
        if row["where"] == "rlem serve":
            assert row["mean_batch"] >= 1 and row["overhead_p50_ms"] > 0
    assert all(value > 0 for value in section["ratios"].values())


def check_gpu(section: dict) -> None:
    if not section["torch_cuda"] and not section["faiss_gpus"]:
        assert "no GPU" in section["skipped"]  # the CPU halves are tested in tests/test_bench.py
        return
    assert {r["device"] for r in section["search"] if r["index"] == "flat"} >= {"cpu"}
    assert all(r["texts_per_s"] > 0 for r in section["embedding"])
    assert all(r["decisions_per_s"] > 0 for r in section["decisions"])


# Its policy section loads SmolLM2 in the transformers policy.
@pytest.mark.slow
@pytest.mark.model
def test_quick_bench_writes_every_section_with_its_files(tmp_path: Path):
    out = tmp_path / "results"  # given relative to the working directory, outside the checkout
    result = rlem("bench", "--quick", "--out", "results", "--pg-url", PG_URL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((out / "bench.json").read_text())
    assert document["machine"]["cores"] >= 1 and "gpu" in document["machine"]
    sections = document["sections"]
    assert list(sections) == ["retrieval", "writes", "steps", "policy", "service", "gpu", "learning"]
    check_retrieval(sections["retrieval"])
    check_writes(sections["writes"])
    check_steps(sections["steps"])
    check_policy(sections["policy"])
    check_service(sections["service"])
    check_gpu(sections["gpu"])
    assert sections["learning"]["results"]
    assert json.loads((out / "retrieval.json").read_text())["sizes"] == sections["retrieval"]["sizes"]
    for name in ("retrieval", "writes", "steps", "service"):
        assert (out / f"{name}.png").stat().st_size > 0
        assert f"]({name}.png)" in (out / "bench.md").read_text()
    assert "| states |" in (out / "retrieval.md").read_text()
    assert "Through the store" in (out / "retrieval.md").read_text()
    assert (out / "policy.md").exists() and (out / "learning.md").exists()

    again = rlem("bench", "--quick", "--only", "retrieval", "--out", "results", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    updated = json.loads((out / "bench.json").read_text())["sections"]
    assert list(updated) == list(sections)  # parts not run keep their earlier sections
    assert updated["writes"] == sections["writes"]
    assert updated["retrieval"]["started_at"] >= sections["retrieval"]["started_at"]


@pytest.mark.slow
def test_only_names_known_parts(tmp_path: Path):
    result = rlem("bench", "--quick", "--only", "retrieval,nothing", "--out", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --only 'retrieval,nothing': choose among retrieval,writes,steps,policy,service,gpu,learning"
    ]
