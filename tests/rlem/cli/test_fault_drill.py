"""The fault drill: `rlem run`, `backup create`, `memory reembed` and `memory copy` killed with SIGKILL
at random moments, on SQLite and PostgreSQL.

After every kill the memory is exactly what committed (for a run, the replay of its logged training
episodes; for the others, the memory as it was or the command's complete result, never a mix), the
persisted index agrees with the database vector for vector, and running the command again finishes
the job. The moments are drawn from a seeded generator over the command's own duration, measured
first on the same data, so they fall inside the work on a fast machine and a slow one alike.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from memory_store import ExperienceStore, StoreConfig
from memory_store.backup import list_backups, restore_backup, verify_backup
from memory_store.db.models import Namespace
from memory_store.errors import StoreError
from memory_store.store import open_database
from memory_store.vectors.embedder import Embedder, default_embedder, packaged_model_path
from memory_store.vectors.sync import load_embeddings
from rlem.learning.trajectory import read_episodes
from tests.memory_store.backup.databases import new_target
from tests.postgres import admin_connection
from tests.rlem.cli.parcels import contents, fill, parcels
from tests.rlem.runs import committed_training, memory_of, replayed_memory

pytestmark = pytest.mark.slow

KILLS = 3


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Persisted indexes of PostgreSQL databases go to the test's folder (for the commands too)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def rlem_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rlem.cli", *args]


def timed(command: list[str]) -> float:
    """Run a command to completion (it must succeed) and return how long it took."""
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - start


def killed_at(command: list[str], delay_s: float) -> bool:
    """Start the command, SIGKILL its whole process group after `delay_s`; whether it was still running."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        process.wait(timeout=delay_s)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True


def moments(name: str, duration_s: float) -> list[float]:
    """KILLS seeded random moments within the first 80% of a command's duration (the seed is the
    drill's name): a kill later than the command's end tests nothing, and a run's time varies."""
    draw = random.Random(name)
    return sorted(draw.uniform(0.05, 0.8) * duration_s for _ in range(KILLS))


def drill(name: str, command: list[str], duration_s: float) -> Iterator[float]:
    """Kill the command at each moment, yielding the moment after each kill for the checks."""
    hits = 0
    for moment in moments(name, duration_s):
        hits += killed_at(command, moment)
        yield moment
    assert hits, f"{name}: the command always finished before the kill; the drill tested nothing"


def model_of(url: str, namespace: str) -> str:
    """The embedding model a namespace is bound to."""
    db = open_database(url, create=False)
    try:
        with db.read() as session:
            return session.scalars(select(Namespace.embedding_model).where(Namespace.name == namespace)).one()
    finally:
        db.close()


def has_schema(url: str) -> bool:
    """Whether a copy's target has rlem's tables yet (a kill may come before it made them)."""
    try:
        open_database(url, create=False).close()
    except StoreError:
        return False
    return True


def assert_index_agrees(url: str, namespace: str, *others: Embedder) -> None:
    """Open the namespace as an agent would (persisted index and all): every vector matches the row's."""
    model = model_of(url, namespace)
    embedder = next(e for e in (default_embedder(), *others) if e.model_name == model)
    config = StoreConfig(url=url, namespace=namespace)
    with ExperienceStore.open(config, embedder=embedder, create=False) as store:
        ids = np.sort(store.index.ids())
        assert ids.tolist() == sorted(r.id for r in store.records())
        with store.db.read() as session:
            stored_ids, stored = load_embeddings(session, ids, store.dim)
        order = np.argsort(stored_ids)
        assert stored_ids[order].tolist() == ids.tolist()
        np.testing.assert_allclose(store.index.vectors(ids), stored[order], atol=1e-6)


def test_a_run_killed_again_and_again_resumes_to_the_replay_of_what_it_committed(db_url, tmp_path):
    out = tmp_path / "out"
    args = ["run", "--policy", "memory-greedy", "--env", "frozenlake:4x4:random", "--epochs", "2"]
    args += ["--train-tasks", "0-9", "--test-tasks", "100-101", "--gamma", "0.9", "--n-step", "none"]
    # Timed on the same database (another namespace), so the moments suit this backend.
    timing = ["--db", db_url, "--namespace", "timing", "--out", str(tmp_path / "timing")]
    command = rlem_command(*args, "--db", db_url, "--out", str(out))
    for moment in drill("run", command, timed(rlem_command(*args, *timing))):
        training = committed_training(db_url, out)
        if training:
            folder = tmp_path / f"replay-{moment:.2f}"
            folder.mkdir()
            replayed = replayed_memory(training, folder)
            assert memory_of(db_url, "default", tmp_path / "memory.json") == replayed, moment
            assert_index_agrees(db_url, "default")
    timed(command)
    training = read_episodes(out / "trajectories.jsonl")
    assert len(training) == len(committed_training(db_url, out)) == 2 * 10
    (tmp_path / "replay-final").mkdir()
    replayed = replayed_memory(training, tmp_path / "replay-final")
    assert memory_of(db_url, "default", tmp_path / "memory.json") == replayed
    assert_index_agrees(db_url, "default")


def cut_connections(database: str) -> int:
    """Terminate every server process serving the database (as a failover would); how many."""
    with admin_connection() as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return sum(1 for (done,) in rows if done)


@pytest.mark.postgres
def test_a_run_whose_postgresql_connections_are_cut_again_and_again_finishes_exactly(pg_url, tmp_path):
    out = tmp_path / "out"
    args = ["run", "--policy", "memory-greedy", "--env", "frozenlake:4x4:random", "--epochs", "2"]
    args += ["--train-tasks", "0-9", "--test-tasks", "100-101", "--gamma", "0.9", "--n-step", "none"]
    run = subprocess.Popen(
        rlem_command(*args, "--db", pg_url, "--out", str(out)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    cuts, draw = 0, random.Random("cuts")
    while run.poll() is None:
        time.sleep(draw.uniform(0.5, 2.0))  # failovers, not a server that never stays up
        cuts += cut_connections(make_url(pg_url).database)
    stderr = run.stderr.read().decode()
    assert run.returncode == 0, stderr[-3000:]
    assert cuts >= 3, f"only {cuts} connections were cut; the run ended too soon to test anything"
    # A cut meets a connection in use (the run says "lost the connection ...; trying again") or one
    # idle in the pool (replaced before its next use, silently): either way the run reconnects.
    # Only a one-line warning may reach stderr, never a traceback.
    assert "Traceback" not in stderr, stderr[-3000:]
    training = read_episodes(out / "trajectories.jsonl")
    assert len(training) == len(committed_training(pg_url, out)) == 2 * 10
    (tmp_path / "replay").mkdir()
    assert memory_of(pg_url, "default", tmp_path / "memory.json") == replayed_memory(
        training, tmp_path / "replay"
    )
    assert_index_agrees(pg_url, "default")


def test_backup_create_killed_leaves_the_source_alone_and_only_complete_backups(db_url, tmp_path):
    memory = fill(db_url, parcels(5_000, vectors=True))
    before = contents(memory)
    backups = tmp_path / "backups"
    command = rlem_command("backup", "create", "--db", memory, "-o", str(backups))
    duration = timed(rlem_command("backup", "create", "--db", memory, "-o", str(tmp_path / "timing")))
    for moment in drill("backup", command, duration):
        assert contents(memory) == before, moment
        for backup in list_backups(backups) if backups.exists() else []:
            verify_backup(backup.path)
    assert_index_agrees(memory, "parcels")
    timed([*command, "--keep", "1"])
    assert [p.name for p in backups.iterdir() if p.name.startswith(".")] == []
    (latest,) = list_backups(backups)
    with new_target(memory, tmp_path) as target:
        restore_backup(latest.path, target)
        assert contents(target) == before


def test_reembed_killed_leaves_the_namespace_whole_on_one_model_or_the_other(db_url, dense):
    memory = fill(db_url, parcels(500, vectors=False))
    before = contents(memory)["parcels"]
    folders = {default_embedder().model_name: dense.path, dense.model_name: packaged_model_path()}

    def command() -> list[str]:
        """Re-embed with the model the namespace is not on now."""
        folder = str(folders[model_of(memory, "parcels")])
        return rlem_command("memory", "reembed", "--db", memory, "-n", "parcels", "--model", folder)

    duration = timed(command())
    assert model_of(memory, "parcels") == dense.model_name
    for moment in drill("reembed", command(), duration):
        found = contents(memory)
        assert found["parcels"] == before, moment
        # What a kill may leave: the staging namespace of the killed process, removed by the next run.
        assert all(n.startswith("parcels~reembed-") for n in found if n != "parcels"), moment
        assert_index_agrees(memory, "parcels", dense)
    timed(command())
    assert list(contents(memory)) == ["parcels"]
    assert_index_agrees(memory, "parcels", dense)


def test_copy_killed_leaves_the_target_without_the_namespace_or_with_all_of_it(db_url, tmp_path):
    source = fill(f"sqlite:///{tmp_path / 'source.db'}", parcels(5_000, vectors=True))
    expected = contents(source)
    copy = ["memory", "copy", "--from", source, "-n", "parcels", "--replace"]
    command = rlem_command(*copy, "--to", db_url)
    duration = timed(rlem_command(*copy, "--to", f"sqlite:///{tmp_path / 'timing.db'}"))
    for moment in drill("copy", command, duration):
        assert contents(source) == expected, moment
        found = contents(db_url) if has_schema(db_url) else {}
        assert found in ({}, expected), moment
        if found:
            assert_index_agrees(db_url, "parcels")
    timed(command)
    assert contents(db_url) == expected
    assert_index_agrees(db_url, "parcels")
