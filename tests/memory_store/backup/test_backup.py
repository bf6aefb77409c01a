"""Backups on SQLite and PostgreSQL: consistent under concurrent writers, checked, restored atomically."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np
import psycopg
import pytest
from sqlalchemy.engine import make_url

from memory_store import ExperienceStore, StoreConfig, Update
from memory_store.backup import create_backup, list_backups, prune_backups, restore_backup, verify_backup
from memory_store.backup.manifest import MANIFEST, BackupError, read_contents, read_manifest
from memory_store.db.database import Database, parse_url
from memory_store.store import open_database
from memory_store.vectors.embedder import default_embedder
from tests.memory_store.backup.databases import TASK, export_all, fill, new_target
from tests.memory_store.db.revisions import at_first_revision_with_data
from tests.postgres import admin_connection

TALLY = "The ledger's running tally."
WRITERS = 4


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Persisted indexes of PostgreSQL databases go to the test's folder, not the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def target_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """See new_target."""
    with new_target(db_url, tmp_path) as url:
        yield url


def keep_writing(url: str, worker: int, log_path: str, stop: Event, limit: int) -> None:
    """Until stopped: each transaction adds this worker's next state and one visit to the shared tally.

    After each commit the step is appended to the log and flushed to disk, so the log never names an
    update that is not committed.
    """
    rng = np.random.default_rng(worker)
    tally = np.random.default_rng(1000).standard_normal(384)
    config = StoreConfig(url=url, persist_index=False)
    with ExperienceStore.open(config, embedder=default_embedder()) as store, open(log_path, "a") as log:
        for step in range(limit):
            if stop.is_set():
                return
            own = Update(
                TASK, f"worker {worker} step {step}", "write", 1.0, 1.0, embedding=rng.standard_normal(384)
            )
            store.apply([own, Update(TASK, TALLY, "count", 1.0, 1.0, embedding=tally)])
            log.write(f"{step}\n")
            log.flush()
            os.fsync(log.fileno())


def logged(path: Path) -> int:
    """How many updates a writer has logged as committed."""
    return len(path.read_text().splitlines()) if path.exists() else 0


def contents_of(url: str):
    """What a database holds, counted as a manifest counts it."""
    db = Database(parse_url(url))
    try:
        with db.engine.connect() as connection:
            return read_contents(connection)
    finally:
        db.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 180.0) -> None:
    """Poll until the condition holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_backup_taken_while_four_processes_write_restores_a_consistent_moment(
    db_url, target_url, embedder, tmp_path
):
    open_database(db_url).close()
    logs = [tmp_path / f"writer-{w}.log" for w in range(WRITERS)]
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    writers = [
        context.Process(target=keep_writing, args=(db_url, w, str(logs[w]), stop, 5000))
        for w in range(WRITERS)
    ]
    for process in writers:
        process.start()
    try:
        wait_for(lambda: all(logged(log) >= 20 for log in logs))
        before = [logged(log) for log in logs]
        backup = create_backup(db_url, tmp_path / "backups")
        after = [logged(log) for log in logs]
        wait_for(lambda: sum(logged(log) for log in logs) > sum(after) + 20)
    finally:
        stop.set()
        for process in writers:
            process.join(timeout=120)
    assert [p.exitcode for p in writers] == [0] * WRITERS

    assert verify_backup(backup.path) == backup.manifest
    restored = restore_backup(backup.path, target_url)
    assert restored.replaced is None and restored.current
    with ExperienceStore.open(StoreConfig(url=target_url, persist_index=False), embedder=embedder) as store:
        records = store.records()
    steps: dict[int, set[int]] = {w: set() for w in range(WRITERS)}
    for record in records:
        if record.observation != TALLY:
            _, worker, _, step = record.observation.split()
            steps[int(worker)].add(int(step))
    for worker in range(WRITERS):
        count = len(steps[worker])
        # Every update committed before the backup began is there, and each worker's are a prefix.
        assert steps[worker] == set(range(count))
        assert before[worker] <= count <= after[worker] + 1
    tally = next(r for r in records if r.observation == TALLY)
    assert tally.visits == tally.action("count").visits == sum(len(s) for s in steps.values())
    assert contents_of(target_url) == backup.manifest.contents
    assert backup.manifest.contents.states == len(records)


def test_manifest_describes_the_snapshot(db_url, embedder, tmp_path):
    fill(db_url, embedder, ["a", "b", "c"])
    fill(db_url, embedder, ["d"], namespace="other")
    backup = create_backup(db_url, tmp_path)
    manifest = read_manifest(backup.path)
    assert manifest == backup.manifest
    assert backup.path.name.startswith("rlem-backup-") and backup.path.parent == tmp_path
    assert [(n.name, n.states, n.actions, n.embedding_dim) for n in manifest.contents.namespaces] == [
        ("default", 3, 3, 384),
        ("other", 1, 1, 384),
    ]
    assert manifest.contents.tables["rlem_experiences"] == 4
    assert manifest.dialect == make_url(db_url).get_backend_name()
    assert manifest.source == make_url(db_url).render_as_string(hide_password=False)
    assert sorted(p.name for p in backup.path.iterdir()) == sorted([MANIFEST, manifest.data_file])
    assert manifest.files[manifest.data_file].size == (backup.path / manifest.data_file).stat().st_size


def test_counts_that_differ_from_the_manifest_fail_verify_and_restore(db_url, target_url, embedder, tmp_path):
    fill(db_url, embedder, ["a", "b"])
    backup = create_backup(db_url, tmp_path / "backups")
    doc = json.loads((backup.path / MANIFEST).read_text())
    doc["contents"]["namespaces"][0]["states"] = 3
    (backup.path / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(BackupError, match="holds 2 states and 2 action values, the manifest says 3 and 2"):
        verify_backup(backup.path)
    with pytest.raises(BackupError, match="the manifest says 3 and 2"):
        restore_backup(backup.path, target_url)
    if target_url.startswith("sqlite"):
        assert list(tmp_path.glob(".restored.db*")) == [] and not (tmp_path / "restored.db").exists()


def test_a_damaged_sqlite_page_fails_verify_even_with_a_matching_checksum(tmp_path, embedder):
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    fill(url, embedder, ["a", "b"])
    backup = create_backup(url, tmp_path / "backups")
    data = backup.path / "memory.db"
    raw = bytearray(data.read_bytes())
    page_size = int.from_bytes(raw[16:18], "big")
    raw[page_size] = 0x01  # page 2's b-tree page type: no such type
    data.write_bytes(bytes(raw))
    doc = json.loads((backup.path / MANIFEST).read_text())
    doc["files"]["memory.db"]["sha256"] = hashlib.sha256(bytes(raw)).hexdigest()
    (backup.path / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(BackupError, match="integrity check|cannot be read as a SQLite database"):
        verify_backup(backup.path)


def test_retrieval_after_a_restore_sees_the_restored_states(db_url, embedder, tmp_path):
    fill(db_url, embedder, ["The key lies under the mat.", "The door is painted red."])
    backup = create_backup(db_url, tmp_path / "backups")
    fill(db_url, embedder, ["A dragon sleeps on the gold.", "The dragon wakes up."])
    restored = restore_backup(backup.path, db_url, force=True)
    assert restored.replaced is not None and restored.replaced.states == 4
    # The index saved with four states was replaced by one rebuilt from the restored two.
    sidecars = list(tmp_path.rglob("ns-*.json"))
    assert [json.loads(p.read_text())["count"] for p in sidecars] == [2]
    with ExperienceStore.open(StoreConfig(url=db_url), embedder=embedder) as store:
        assert len(store.index) == 2
        hits = store.top_k(TASK, "A dragon sleeps on the gold.", k=4)
    assert sorted(h.experience.observation for h in hits) == [
        "The door is painted red.",
        "The key lies under the mat.",
    ]


@pytest.mark.slow
def test_a_restore_refuses_a_database_that_agents_still_use(db_url, embedder, tmp_path):
    fill(db_url, embedder, ["a"])
    backup = create_backup(db_url, tmp_path / "backups")
    fill(db_url, embedder, ["b"])
    before = export_all(db_url, embedder, tmp_path / "before")
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        agent = sqlite3.connect(url.database)
        agent.execute("SELECT count(*) FROM rlem_experiences").fetchall()
        expected = "is open in another process: stop the agents using it and restore again"
    else:
        agent = psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
        expected = "is being accessed by other users (stop the agents using"
    try:
        with pytest.raises(BackupError, match=re.escape(expected)):
            restore_backup(backup.path, db_url, force=True, wait_s=0.5)
    finally:
        agent.close()
    assert export_all(db_url, embedder, tmp_path / "after") == before
    if url.get_backend_name() == "sqlite":
        assert list(Path(url.database).parent.glob(".memory.db.restore-*")) == []
    else:
        with admin_connection() as connection:
            pattern = f"{url.database}\\_%"
            assert (
                connection.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,)
                ).fetchall()
                == []
            )


def test_a_database_at_an_old_revision_is_restored_as_it_was(db_url, target_url, tmp_path):
    at_first_revision_with_data(db_url)
    backup = create_backup(db_url, tmp_path / "backups")
    assert backup.manifest.contents.schema_revision == "0001"
    restored = restore_backup(backup.path, target_url)
    assert not restored.current
    assert contents_of(target_url) == backup.manifest.contents


def test_a_failed_backup_leaves_nothing_behind(db_url, tmp_path):
    if db_url.startswith("sqlite"):
        with pytest.raises(BackupError, match="does not exist: there is nothing to back up"):
            create_backup(db_url, tmp_path / "backups")
    else:
        with pytest.raises(BackupError, match="has no rlem schema"):
            create_backup(db_url, tmp_path / "backups")
    assert list((tmp_path / "backups").iterdir()) == []


def test_restoring_refuses_another_dialect_and_an_unknown_revision(tmp_path, embedder):
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    fill(url, embedder, ["a"])
    backup = create_backup(url, tmp_path / "backups")
    with pytest.raises(BackupError, match="is a sqlite backup and cannot be restored into postgresql"):
        restore_backup(backup.path, "postgresql+psycopg://postgres@127.0.0.1:5432/elsewhere")
    doc = json.loads((backup.path / MANIFEST).read_text())
    doc["contents"]["schema_revision"] = "9999"
    (backup.path / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(BackupError, match="schema revision 9999, which this rlem does not know"):
        restore_backup(backup.path, f"sqlite:///{tmp_path / 'other.db'}")


def test_list_and_prune_see_only_complete_backups_newest_last(tmp_path, embedder):
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    fill(url, embedder, ["a"])
    folder = tmp_path / "backups"
    made = [create_backup(url, folder) for _ in range(3)]
    (folder / ".rlem-backup-x.partial").mkdir()
    (folder / "notes").mkdir()
    assert list_backups(folder) == made
    removed = prune_backups(folder, 1)
    assert removed == made[:2]
    assert list_backups(folder) == made[2:]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".rlem-backup-x.partial", "notes", made[2].path.name]
    )
    with pytest.raises(BackupError, match="is not an rlem backup: it has no manifest.json"):
        verify_backup(folder / "notes")


def test_partial_folders_of_ended_processes_are_removed_by_the_next_backup_and_by_prune(tmp_path, embedder):
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    fill(url, embedder, ["a"])
    folder = tmp_path / "backups"
    folder.mkdir()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    here = socket.gethostname()
    # What `kill -9` during `backup create` leaves, a live one, and one written from another machine.
    dead = folder / f".rlem-backup-20260101T000000Z.{int(ended.stdout)}@{here}.partial"
    live = folder / f".rlem-backup-20260101T000000Z.{os.getpid()}@{here}.partial"
    remote = folder / ".rlem-backup-20260101T000000Z.1@another-machine.partial"
    for path in (dead, live, remote):
        path.mkdir()
        (path / "memory.db").write_bytes(b"\0" * 1000)
    create_backup(url, folder)
    assert not dead.exists() and live.exists() and remote.exists()
    dead.mkdir()
    prune_backups(folder, 1)
    assert not dead.exists() and live.exists() and remote.exists()
