"""`rlem run --config FILE.toml`: the file's settings, the options over them, bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rlem.cli.in_process import rlem_in_process

SETTINGS = """
env = "frozenlake:4x4"
policy = "memory-greedy"
epochs = 1
train-tasks = "0-2"
test_tasks = [100]
n_step = "none"
gamma = 0.5
"""


@pytest.mark.slow
def test_a_config_file_sets_the_run_and_options_override_it(tmp_path: Path):
    (tmp_path / "run.toml").write_text(SETTINGS)
    out = tmp_path / "out"
    result = rlem_in_process(
        "run", "--config", str(tmp_path / "run.toml"), "--gamma", "0.75",
        "--db", f"sqlite:///{tmp_path / 'm.db'}", "--out", str(out),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    saved = json.loads((out / "config.json").read_text())["config"]
    assert (saved["env"], saved["policy"], saved["n_step"]) == ("frozenlake:4x4", "memory-greedy", None)
    assert saved["train_tasks"] == [0, 1, 2] and saved["test_tasks"] == [100] and saved["gamma"] == 0.75


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("env = ", "is not TOML"),
        ('gama = 0.5\npolicy = "random"', "run settings: gama: Extra inputs are not permitted"),
        ('policy = "random"\ntrain_tasks = "9-3"', "runs backwards"),
        ('policy = "random"\nn_step = "two"', "--n-step must be a positive integer or 'none'"),
    ],
)
def test_a_bad_config_file_is_one_line_and_claims_nothing(tmp_path: Path, text: str, message: str):
    (tmp_path / "run.toml").write_text(text)
    out = tmp_path / "out"
    result = rlem_in_process(
        "run",
        "--config",
        str(tmp_path / "run.toml"),
        "--db",
        f"sqlite:///{tmp_path / 'm.db'}",
        "--out",
        str(out),
    )
    assert result.code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert not out.exists() and not (tmp_path / "m.db").exists()


def test_a_missing_config_file_is_one_line(tmp_path: Path):
    result = rlem_in_process("run", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "out"))
    assert result.code == 1 and "cannot read" in result.stderr and not (tmp_path / "out").exists()
