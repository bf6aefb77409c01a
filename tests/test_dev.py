"""`python3 dev.py run`, the README's main job, end to end on a small slice of its tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
    assert config["policy"]["backend"] == "hf" and config["policy"]["settings"]["decide"] == "guided"
    assert config["train_tasks"] == [0, 1] and config["test_tasks"] == [1000]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["episodes"]) for r in rows] == [("train", 2), ("eval", 1)]
    assert rows[-1]["memory_size"] > 0
    assert "learning curve" in result.stdout
