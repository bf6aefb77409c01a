"""The benchmarks' building blocks, the learning benchmark's experiments, and its quick mode (no timing
is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.progress import Progress

from bench.bandwidth import copy_bandwidth_gbs, scan_bound_ms
from bench.baselines.tabular import parser as tabular_parser
from bench.learning import EXPERIMENTS
from bench.linear_scan import LinearMemory
from bench.parts import gpu, retrieval
from bench.parts.context import Context
from bench.parts.retrieval import flat_ids
from bench.run_configs import write_config
from bench.synthetic import Clusters
from rlem.config import RunConfig, read_config_file

ROOT = Path(__file__).resolve().parents[1]


def test_no_bench_module_imports_dev():
    # dev.py is the setup script of a checkout; the benchmarks take the main job from its TOML file.
    code = (
        "import pkgutil, importlib, sys, bench\n"
        "names = [m.name for m in pkgutil.walk_packages(bench.__path__, 'bench.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "assert 'dev' not in sys.modules, 'dev imported'\n"
        "print(len(names))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) >= 10


def test_every_learning_experiment_is_a_valid_run_config_and_reads_back_from_its_file(tmp_path: Path):
    for name, experiment in EXPERIMENTS.items():
        config = experiment.config
        # model_copy(update=...) does not validate: validate what was derived.
        assert RunConfig.model_validate(config.model_dump()) == config, name
        if experiment.program == "rlem run":
            path = write_config(config, tmp_path / f"{name.replace('/', '__')}.toml")
            assert RunConfig.model_validate(read_config_file(path)) == config, name


def test_the_main_job_experiment_is_the_toml_file_and_the_others_derive_from_it():
    from_file = RunConfig.model_validate(read_config_file(ROOT / "examples" / "main_job.toml"))
    assert EXPERIMENTS["main-job/smollm2+memory"].config == from_file
    assert EXPERIMENTS["main-job/smollm2"].config == from_file.model_copy(update={"memory": "off"})
    for seed in (0, 1, 2):
        seeded = EXPERIMENTS[f"main-job-seeds/smollm2+memory-seed{seed}"].config
        assert seeded.seed == seed and seeded.test_tasks == list(range(1000, 1050))
        assert seeded.model_copy(update={"seed": 0, "test_tasks": from_file.test_tasks}) == from_file


def test_recorded_commands_are_the_equivalent_options():
    main = EXPERIMENTS["main-job/smollm2+memory"]
    assert main.shown(main.config) == (
        "rlem run --env frozenlake:4x4:random:20 --epochs 2 --train-tasks 0-99 --test-tasks 1000-1015 "
        "--num-envs 8 --policy hf --decide guided --n-step none --gamma 0.9 --update-mode mean --k 8 "
        "--token-budget 200"
    )
    tabular = EXPERIMENTS["taxi/tabular-q"]
    defaults = RunConfig()
    assert tabular.shown(tabular.config) == (
        "python -m bench.baselines.tabular --env taxi --epochs 3 --train-tasks 0-49 --test-tasks 1000-1009 "
        f"--gamma {defaults.gamma} --lr {defaults.lr} --explore {defaults.explore}"
    )


def test_tabular_defaults_are_rlem_runs():
    args = tabular_parser().parse_args(
        ["--env", "taxi", "--train-tasks", "0-1", "--test-tasks", "5", "--out", "x"]
    )
    defaults = RunConfig()
    assert (args.gamma, args.explore, args.lr, args.epochs) == (
        defaults.gamma,
        defaults.explore,
        defaults.lr,
        defaults.epochs,
    )


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
def test_the_retrieval_part_times_the_index_the_store_and_the_loop(tmp_path: Path, monkeypatch):
    tiny = retrieval.RetrievalParams(
        sizes=(300, 600), queries=20, warmup=2, linear_budget_s=1.0, linear_min_queries=2, bandwidth_mib=8
    )
    monkeypatch.setattr(retrieval, "QUICK", tiny)
    context = Context(quick=True, out=tmp_path, pg_url="", workdir=tmp_path, command="test")
    with Progress(disable=True) as progress:
        section = retrieval.section(context, progress)
    assert [row["states"] for row in section["sizes"]] == [300, 600]
    for row in section["sizes"]:
        for way in ("flat", "hnsw", "store_flat", "store_hnsw"):
            assert 0 < row[f"{way}_p50_ms"] <= row[f"{way}_p99_ms"]
        assert row["store_flat_open_s"] > 0 and row["store_hnsw_open_s"] > 0
        assert 0 <= row["store_hnsw_recall_vs_flat"] <= 1 and row["hnsw_recall_vs_flat"] <= 1
    assert not list(tmp_path.glob("retrieval-*.db"))


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


def test_the_gpu_part_measures_the_cpu_side_of_each_comparison():
    tiny = gpu.GpuParams(2_000, 10, 16, 8, 2, cpu_batches=(1,), gpu_batches=(1,), main_job=False)
    with Progress(disable=True) as progress:
        search = gpu.search_rows(tiny, False, progress)
        embedding = gpu.embedding_rows(tiny, False, progress)
    assert [(r["index"], r["device"]) for r in search] == [("flat", "cpu"), ("hnsw", "cpu")]
    assert all(r["build_s"] >= 0 and r["single_p50_ms"] > 0 and r["batch_queries_per_s"] > 0 for r in search)
    assert [r["device"] for r in embedding] == ["cpu"] and embedding[0]["texts_per_s"] > 0
