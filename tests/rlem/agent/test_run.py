"""The run loop end to end on FrozenLake with the memory-greedy policy (no model needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memory_store import ExperienceStore, StoreConfig
from memory_store.formats.transfer import export_memory
from rlem.agent.run import Run, RunConfig
from rlem.errors import RlemError
from rlem.learning.trajectory import read_episodes
from tests.rlem.runs import memory_of, replayed_memory

REQUIRED = {
    "epoch",
    "split",
    "episodes",
    "success_rate",
    "mean_return",
    "mean_steps",
    "invalid_action_rate",
    "fallback_rate",
    "advice_following_rate",
    "decision_latency_s",
    "memory_size",
}


def config(db: str, **changes) -> RunConfig:
    settings = dict(
        env="frozenlake:4x4:random",
        policy="memory-greedy",
        epochs=2,
        train_tasks=[0, 1, 2, 3],
        test_tasks=[100, 101],
        db=db,
        num_envs=2,
        gamma=0.9,
        # Full returns: updates land at episode end, so replaying the log reproduces the memory.
        n_step=None,
    )
    return RunConfig(**(settings | changes))


def execute(cfg: RunConfig, out: Path) -> list[dict]:
    run = Run(cfg, out)
    try:
        rows = []
        for epoch in range(1, cfg.epochs + 1):
            rows = run.epoch(epoch, lambda: None)
        return rows
    finally:
        run.close()


@pytest.mark.slow
def test_a_run_writes_logs_metrics_and_a_curve_and_replays_to_the_same_memory(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    rows = execute(config(db), tmp_path / "out")
    assert [(r["epoch"], r["split"]) for r in rows] == [(1, "train"), (1, "eval"), (2, "train"), (2, "eval")]
    assert all(REQUIRED <= set(r) for r in rows)
    out = tmp_path / "out"
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert (out / "metrics.csv").read_text().startswith("epoch,split,episodes,success_rate")
    training = read_episodes(out / "trajectories.jsonl")
    assert len(training) == 8 and len(read_episodes(out / "eval_trajectories.jsonl")) == 4
    assert replayed_memory(training, tmp_path) == memory_of(db, "default", tmp_path / "run.json")


@pytest.mark.slow
@pytest.mark.parametrize("double_q", [False, True])
def test_episodes_run_side_by_side_with_bootstrapping_replay_to_the_same_memory(
    tmp_path: Path, double_q: bool
):
    # Four environments in lockstep: each bootstrapped update reads the memory as the other
    # episodes' updates left it, so replay must follow the order they were applied in.
    db = f"sqlite:///{tmp_path / 'run.db'}"
    cfg = config(db, env="frozenlake:4x4:random:20", train_tasks=list(range(16)), test_tasks=[], epochs=1,
                 num_envs=4, n_step=2, seed=3, double_q=double_q)  # fmt: skip
    execute(cfg, tmp_path / "out")
    training = read_episodes(tmp_path / "out" / "trajectories.jsonl")
    unnumbered = [[s.model_copy(update={"seq": None}) for s in e.steps] for e in training]
    in_file_order = [
        e.model_copy(update={"seq": None, "steps": s}) for e, s in zip(training, unnumbered, strict=True)
    ]
    assert replayed_memory(training, tmp_path, cfg.rule()) == memory_of(db, "default", tmp_path / "run.json")
    # Without the sequence numbers (episode after episode), the same log gives another memory: the
    # test can tell the orders apart.
    (tmp_path / "unordered").mkdir()
    assert replayed_memory(in_file_order, tmp_path / "unordered", cfg.rule()) != memory_of(
        db, "default", tmp_path / "run2.json"
    )


def test_evaluation_episodes_never_write(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    execute(config(db, train_tasks=[], epochs=1), tmp_path / "out")
    with ExperienceStore.open(StoreConfig(url=db, persist_index=False)) as store:
        assert len(store) == 0
    assert len(read_episodes(tmp_path / "out" / "eval_trajectories.jsonl")) == 2


@pytest.mark.slow
def test_a_finished_run_resumes_to_nothing_and_other_settings_are_refused(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    execute(config(db), tmp_path / "out")
    before = (tmp_path / "out" / "episodes.jsonl").read_text()
    execute(config(db), tmp_path / "out")
    assert (tmp_path / "out" / "episodes.jsonl").read_text() == before
    with pytest.raises(RlemError, match="holds a run with other settings"):
        Run(config(db, epochs=3), tmp_path / "out")


def test_lines_of_an_episode_whose_updates_never_committed_are_dropped(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    out = tmp_path / "out"
    execute(config(db, epochs=1), out)
    # As if killed between writing an episode's lines and committing its updates.
    last = json.loads((out / "episodes.jsonl").read_text().splitlines()[0])
    trajectory = (out / "trajectories.jsonl").read_text().splitlines()[0]
    with (out / "episodes.jsonl").open("a") as handle:
        handle.write(json.dumps(last | {"key": "e9-train-99"}) + "\n")
    with (out / "trajectories.jsonl").open("a") as handle:
        handle.write(trajectory.replace(json.loads(trajectory)["run_key"], "e9-train-99") + "\n")
    run = Run(config(db, epochs=1), out)
    run.close()
    assert "e9-train-99" not in (out / "episodes.jsonl").read_text()
    assert "e9-train-99" not in (out / "trajectories.jsonl").read_text()


@pytest.mark.slow
def test_killed_and_started_again_it_completes_with_memory_and_logs_in_agreement(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "rlem.cli",
        "run",
        "--policy",
        "memory-greedy",
        "--env",
        "frozenlake:4x4:random",
        "--epochs",
        "2",
        "--train-tasks",
        "0-11",
        "--test-tasks",
        "100-101",
        "--db",
        db,
        "--out",
        str(out),
        "--gamma",
        "0.9",
        # Full returns: an episode's updates all commit with its journal row (see config()).
        "--n-step",
        "none",
    ]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        episodes = out / "episodes.jsonl"
        if episodes.exists() and len(episodes.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    keys = [json.loads(line)["key"] for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 2 * (12 + 2)
    training = read_episodes(out / "trajectories.jsonl")
    assert len(training) == 24
    assert replayed_memory(training, tmp_path) == memory_of(db, "default", tmp_path / "run.json")


@pytest.mark.slow
def test_double_q_runs_write_both_tables(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    execute(config(db, epochs=1, double_q=True), tmp_path / "out")
    for namespace in ("default", "default~q2"):
        with ExperienceStore.open(
            StoreConfig(url=db, namespace=namespace, persist_index=False), create=False
        ) as s:
            assert s.action_count() > 0


@pytest.mark.slow
def test_static_memory_shows_fixed_exemplars_and_never_writes(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    execute(config(db, epochs=1), tmp_path / "learned")
    fixed = tmp_path / "fixed.json"
    with ExperienceStore.open(StoreConfig(url=db, persist_index=False), create=False) as learned:
        export_memory(learned, fixed, "json")
        size = len(learned)
    execute(config(db, epochs=2, memory="static", static=fixed), tmp_path / "static")
    sizes = {
        json.loads(line)["memory_size"]
        for line in (tmp_path / "static" / "episodes.jsonl").read_text().splitlines()
    }
    assert sizes == {size}
    assert len(read_episodes(tmp_path / "static" / "trajectories.jsonl")) == 8


def test_static_memory_needs_its_file_and_only_it_takes_one(tmp_path: Path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="--memory static takes its exemplars from --static FILE"):
        config("sqlite:///x.db", memory="static")
    with pytest.raises(ValidationError, match="--memory static takes its exemplars from --static FILE"):
        config("sqlite:///x.db", static=tmp_path / "fixed.json")


def test_max_steps_caps_episodes_and_the_capped_log_replays_to_the_same_memory(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    execute(config(db, env="frozenlake:4x4:random:50", max_steps=2), tmp_path / "out")
    training = read_episodes(tmp_path / "out" / "trajectories.jsonl")
    assert max(len(t.steps) for t in training) == 2
    assert replayed_memory(training, tmp_path) == memory_of(db, "default", tmp_path / "run.json")


def test_a_training_episode_records_the_memory_with_its_own_updates(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    rows = execute(config(db, epochs=1, test_tasks=[]), tmp_path / "out")
    with ExperienceStore.open(StoreConfig(url=db, persist_index=False), create=False) as store:
        assert [r["memory_size"] for r in rows if r["split"] == "train"] == [len(store)]


@pytest.mark.slow
def test_the_classic_4x4_map_is_learned_with_the_default_settings(tmp_path: Path):
    # Only the environment and the policy are given (and three of the default ten held-out episodes,
    # to keep the test short): on the classic map neighbouring cells read alike to the embedder, and
    # each must keep its own values.
    cfg = RunConfig(
        env="frozenlake:4x4",
        policy="memory-greedy",
        test_tasks=[1000, 1001, 1002],
        db=f"sqlite:///{tmp_path / 'run.db'}",
    )
    rows = execute(cfg, tmp_path / "out")
    assert [r["success_rate"] for r in rows if r["split"] == "eval"][-1] == 1.0
