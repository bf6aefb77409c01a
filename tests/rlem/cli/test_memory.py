"""`rlem memory replay|export|import` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import rlem
from tests.memory_store.pools import pool
from tests.rlem.trajectories import episode, write_lines


@pytest.mark.slow
def test_replaying_a_log_twice_into_fresh_databases_gives_identical_exports(tmp_path: Path):
    log = write_lines(
        tmp_path / "log.jsonl",
        [
            json.dumps(episode(rewards=(0.0, 0.0, 1.0))),
            json.dumps(episode(rewards=(-1.0, 1.0))),
            json.dumps(episode("Other task.", rewards=(0.5,))),
        ],
    )
    exports = []
    for name in ("first", "second"):
        url = f"sqlite:///{tmp_path / name}.db"
        replayed = rlem(
            "memory", "replay", str(log), "--db", url, "--n-step", "2", "--gamma", "0.9", "--double-q"
        )
        assert replayed.returncode == 0, replayed.stderr
        assert "replayed 3 episodes" in replayed.stdout
        out = tmp_path / f"{name}.json"
        exported = rlem("memory", "export", "--db", url, "-o", str(out))
        assert exported.returncode == 0, exported.stderr
        exports.append(json.loads(out.read_text()))
    assert exports[0] == exports[1]
    assert len(exports[0]["experiences"]) > 0


@pytest.mark.slow
def test_a_bad_line_applies_nothing_and_exits_1(tmp_path: Path):
    log = write_lines(tmp_path / "log.jsonl", [json.dumps(episode()), json.dumps(episode()), '{"task": 1}'])
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    result = rlem("memory", "replay", str(log), "--db", url)
    assert result.returncode == 1
    assert (
        result.stderr.startswith("error: ")
        and "line 3: task: Input should be a valid string" in result.stderr
    )
    assert not (tmp_path / "memory.db").exists()


@pytest.mark.slow
def test_bad_rule_settings_exit_1_with_one_line(tmp_path: Path):
    log = write_lines(tmp_path / "log.jsonl", [json.dumps(episode())])
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    for args, message in [
        (["--n-step", "0"], "n_step: Input should be greater than or equal to 1"),
        (["--n-step", "two"], "--n-step must be a positive integer or 'none'"),
        (["--gamma", "2"], "gamma: Input should be less than or equal to 1"),
        (["--update-mode", "const", "--lr", "0"], "lr: Input should be greater than 0"),
    ]:
        result = rlem("memory", "replay", str(log), "--db", url, *args)
        assert result.returncode != 0
        assert message in result.stderr


@pytest.mark.slow
def test_importing_a_pool_and_an_unsafe_file(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    imported = rlem("memory", "import", str(pool("init_pool.wq.yaml")), "--db", url, "-f", "rememberer-yaml")
    assert imported.returncode == 0, imported.stderr
    assert "imported 4 states into namespace default (4 now)" in imported.stdout
    evil = tmp_path / "evil.yaml"
    evil.write_text("!!python/object/apply:os.system ['touch pwned']\n")
    refused = rlem(
        "memory", "import", str(evil), "--db", url, "-f", "rememberer-yaml", "-n", "other", cwd=tmp_path
    )
    assert refused.returncode == 1
    assert "only !!python/tuple is allowed" in refused.stderr
    assert not (tmp_path / "pwned").exists()
    again = rlem("memory", "export", "--db", url, "-n", "other", "-o", str(tmp_path / "x.json"))
    assert again.returncode == 1 and "namespace 'other' does not exist" in again.stderr
