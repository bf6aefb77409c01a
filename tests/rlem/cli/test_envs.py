"""`rlem envs` lists what `--env` can name; `rlem run` refuses a bad `--env` in one line on stderr,
exit code 1, and claims no output folder, so the corrected rerun with the same `--out` works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envs.registry import REGISTRY
from tests.envs.plugins import Plugins
from tests.rlem.cli.in_process import rlem_in_process

# A run that needs no LLM: the memory decides, on two training seeds and one held-out seed.
CHEAP = ["--policy", "memory-greedy", "--epochs", "1", "--train-tasks", "0-1", "--test-tasks", "100"]

BAD = {
    "an unknown name": (
        lambda p: "nowhere:4x4",
        "unknown environment 'nowhere' in 'nowhere:4x4': known are blackjack, cliffwalking, frozenlake, "
        "scienceworld, taxi, textworld, or give package.module:factory (see `rlem envs`)",
    ),
    "a module that does not import": (
        lambda p: f"{p.package}.needs_missing:make",
        "cannot import module '{package}.needs_missing': ModuleNotFoundError: No module named "
        "'a_dependency_nobody_installed' (install its package, or put the folder that holds it on "
        "PYTHONPATH)",
    ),
    "a missing factory": (lambda p: p.spec("lake_"), "module '{package}.factories' has no 'lake_'"),
    "a factory that raises": (lambda p: p.spec("broken"), "RuntimeError: the lamp is out"),
    "a factory returning something else": (
        lambda p: p.spec("not_an_env"),
        "{package}.factories:not_an_env returned 42, not an envs.TextEnv",
    ),
    "an env without actions at its first reset": (
        lambda p: p.spec("no_actions"),
        "environment '{package}.factories:no_actions' breaks the TextEnv contract (envs/base.py): "
        "the first reset: the admissible actions must be a non-empty tuple of strings",
    ),
}


def run(env: str, out: Path, db: Path) -> tuple:
    """`rlem run` of the cheap settings on `env` into `out`."""
    return rlem_in_process("run", "--env", env, *CHEAP, "--out", str(out), "--db", f"sqlite:///{db}")


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_env_is_one_line_exit_1_and_claims_nothing(case, plugins: Plugins, tmp_path):
    spec, message = BAD[case][0](plugins), BAD[case][1].format(package=plugins.package)
    out, db = tmp_path / "runs" / "first", tmp_path / "m.db"
    outcome = run(spec, out, db)
    assert outcome.code == 1
    [line] = outcome.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert not (tmp_path / "runs").exists() and not db.exists()


@pytest.mark.slow
def test_the_corrected_rerun_with_the_same_out_works(plugins: Plugins, tmp_path):
    out, db = tmp_path / "run", tmp_path / "m.db"
    out.mkdir()  # a folder that already exists is left as it was, without a config.json
    for bad in ("no_actions", "not_an_env"):
        assert run(plugins.spec(bad), out, db).code == 1
        assert not (out / "config.json").exists() and not db.exists()
    good = plugins.spec("lake", "8")
    outcome = run(good, out, db)
    assert outcome.code == 0, outcome.stderr
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["env"] == good
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert sorted(e["split"] for e in episodes) == ["eval", "train", "train"]
    before = (out / "config.json").read_text()
    assert run(plugins.spec("broken"), out, db).code == 1
    assert (out / "config.json").read_text() == before


def test_rlem_envs_lists_built_ins_with_examples_and_the_module_form():
    outcome = rlem_in_process("envs")
    assert outcome.code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    for name, entry in REGISTRY.items():
        [line] = [line for line in lines if line.startswith(f"  {name} ")]
        assert entry.description in line and f"--env {entry.example}" in line
    assert "  (none installed)" in lines
    assert "--env package.module:factory[:ARG...]" in outcome.stdout
    assert "package.module:factory" in rlem_in_process("envs", "--help").stdout


@pytest.mark.slow
def test_rlem_envs_names_entry_points_and_their_distribution(plugins: Plugins):
    plugins.register(
        {"puddle": f"{plugins.module}:from_arguments", "taxi": f"{plugins.module}:from_arguments"}
    )
    result = subprocess.run(
        [sys.executable, "-m", "rlem.cli", "envs"],
        capture_output=True,
        text=True,
        env=plugins.environ(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    entry = f"from {plugins.distribution} 0.1 ({plugins.module}:from_arguments)"
    assert f"  puddle  {entry}" in lines
    assert f"  taxi    {entry} (shadowed: the built-in of this name wins)" in lines
