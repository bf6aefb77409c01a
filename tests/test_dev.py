"""`python3 dev.py run`, the README's main job (examples/main_job.toml), end to end on a small slice of
its tasks, and the command it runs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dev
from rlem.config import RunConfig, read_config_file

ROOT = Path(__file__).resolve().parents[1]


def test_dev_py_imports_only_the_standard_library():
    # It runs before the virtual environment exists, with whatever Python there is.
    tree = ast.parse((ROOT / "dev.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_run_passes_the_main_job_file_then_its_files_then_the_users_options():
    command = dev.main_job_command(["--epochs", "1"])
    assert command[:5] == ["-m", "rlem.cli", "run", "--config", "examples/main_job.toml"]
    assert command[5:] == [*dev.MAIN_JOB_FILES, "--epochs", "1"]
    assert (ROOT / dev.MAIN_JOB).is_file()


def test_the_main_job_file_is_smollm2_guided_with_the_memory_on_unseen_maps():
    config = RunConfig.model_validate(read_config_file(ROOT / dev.MAIN_JOB))
    assert config.env == "frozenlake:4x4:random:20" and config.memory == "rlem"
    assert (config.policy, config.decide) == ("hf", "guided")
    assert config.train_tasks == list(range(100)) and config.test_tasks == list(range(1000, 1016))
    assert (config.epochs, config.num_envs, config.gamma, config.n_step) == (2, 8, 0.9, None)
    assert (config.update_mode, config.k, config.token_budget) == ("mean", 8, 200)
    assert not set(config.test_tasks) & set(config.train_tasks)


@pytest.mark.slow
@pytest.mark.model
def test_the_main_job_runs_smollm2_with_the_memory_and_later_options_win(tmp_path: Path):
    out = tmp_path / "out"
    slice_ = ["--epochs", "1", "--train-tasks", "0-1", "--test-tasks", "1000"]
    result = subprocess.run(
        [
            sys.executable,
            "dev.py",
            "run",
            *slice_,
            "--db",
            f"sqlite:///{tmp_path / 'm.db'}",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["env"] == "frozenlake:4x4:random:20" and config["memory"] == "rlem"
    assert config["policy"] == "hf" and config["decide"] == "guided"
    assert config["train_tasks"] == [0, 1] and config["test_tasks"] == [1000]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["episodes"]) for r in rows] == [("train", 2), ("eval", 1)]
    assert rows[-1]["memory_size"] > 0
    assert "learning curve" in result.stdout
