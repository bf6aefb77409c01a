"""`rlem backup` as a user runs it: damaged backups, killed restores, --force, --keep and list."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from memory_store.backup import create_backup
from tests.cli import one_line_error, rlem
from tests.memory_store.backup.databases import create_database, drop_copies, export_all, fill, new_target
from tests.postgres import admin_connection, create_pg_database, drop_pg_database, require_postgres


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Persisted indexes of PostgreSQL databases go to the test's folder, not the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def target_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A restore target of the same kind as db_url that does not exist yet."""
    with new_target(db_url, tmp_path) as url:
        yield url


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL."""
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" else None


@pytest.mark.slow
def test_a_flipped_byte_fails_verify_and_restore_and_leaves_the_target_alone(
    db_url, target_url, embedder, tmp_path
):
    fill(db_url, embedder, ["a", "b", "c"])
    backup = create_backup(db_url, tmp_path / "backups")
    create_database(target_url)
    fill(target_url, embedder, ["x"])
    before = export_all(target_url, embedder, tmp_path / "before")
    target_file = sqlite_file(target_url)
    before_bytes = target_file.read_bytes() if target_file else None

    data = backup.path / backup.manifest.data_file
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    damaged = f"{data} does not match its SHA-256 in the manifest: the file is damaged"
    one_line_error(rlem("backup", "verify", str(backup.path)), damaged)
    one_line_error(rlem("backup", "restore", str(backup.path), "--db", target_url, "--force"), damaged)

    assert export_all(target_url, embedder, tmp_path / "after") == before
    if target_file:
        assert target_file.read_bytes() == before_bytes
        assert sorted(p.name for p in target_file.parent.glob(f".{target_file.name}*")) == []


@contextmanager
def held(url: str) -> Iterator[None]:
    """Keep the database busy the way a running agent or a DBA would, so a restore cannot swap it."""
    path = sqlite_file(url)
    if path is not None:
        connection = sqlite3.connect(path)
        connection.execute("SELECT count(*) FROM rlem_namespaces").fetchall()
        try:
            yield
        finally:
            connection.close()
        return
    with admin_connection() as connection:
        connection.autocommit = False
        connection.execute(f"COMMENT ON DATABASE \"{make_url(url).database}\" IS 'held by a test'")
        try:
            yield
        finally:
            connection.rollback()


def restore_started(url: str) -> bool:
    """Whether a restore has begun writing its copy (a temp file beside it, or a scratch database)."""
    path = sqlite_file(url)
    if path is not None:
        return any(path.parent.glob(f".{path.name}.restore-*"))
    with admin_connection() as connection:
        pattern = f"{make_url(url).database}\\_restore\\_%"
        return (
            connection.execute("SELECT 1 FROM pg_database WHERE datname LIKE %s", (pattern,)).fetchone()
            is not None
        )


@pytest.mark.slow
def test_a_restore_killed_halfway_leaves_the_old_database_as_it_was(db_url, embedder, tmp_path):
    fill(db_url, embedder, ["a", "b"])
    backup = create_backup(db_url, tmp_path / "backups")
    fill(db_url, embedder, ["c"])
    before = export_all(db_url, embedder, tmp_path / "before")
    path = sqlite_file(db_url)
    before_bytes = path.read_bytes() if path else None
    try:
        with held(db_url):
            restore = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rlem.cli",
                    "backup",
                    "restore",
                    str(backup.path),
                    "--db",
                    db_url,
                    "--force",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + 120
            while not restore_started(db_url):
                assert restore.poll() is None and time.monotonic() < deadline, "the restore never started"
                time.sleep(0.01)
            assert restore.poll() is None, "the restore ended before it could be killed"
            os.killpg(restore.pid, signal.SIGKILL)
            assert restore.wait(timeout=30) == -signal.SIGKILL
        assert export_all(db_url, embedder, tmp_path / "after") == before
        if path:
            assert path.read_bytes() == before_bytes
        # Nothing stands in the way of the next restore.
        done = rlem("backup", "restore", str(backup.path), "--db", db_url, "--force")
        assert done.returncode == 0, done.stderr
        assert [len(e["experiences"]) for e in export_all(db_url, embedder, tmp_path / "x").values()] == [2]
    finally:
        if path is None:
            drop_copies(db_url)


@pytest.mark.slow
def test_restoring_over_data_needs_force(db_url, target_url, embedder, tmp_path):
    fill(db_url, embedder, ["a", "b"])
    backup = create_backup(db_url, tmp_path / "backups")
    create_database(target_url)
    fill(target_url, embedder, ["x", "y", "z"])
    refused = rlem("backup", "restore", str(backup.path), "--db", target_url)
    one_line_error(refused, "holds 3 states in 1 namespaces: add --force to replace them")
    assert [len(e["experiences"]) for e in export_all(target_url, embedder, tmp_path / "t").values()] == [3]
    forced = rlem("backup", "restore", str(backup.path), "--db", target_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"restored {backup.path} into" in forced.stdout
    assert export_all(target_url, embedder, tmp_path / "r") == export_all(db_url, embedder, tmp_path / "s")


@pytest.mark.slow
def test_create_keep_and_list(db_url, embedder, tmp_path):
    fill(db_url, embedder, ["a"])
    folder = tmp_path / "backups"
    for _ in range(3):
        made = rlem("backup", "create", "--db", db_url, "-o", str(folder), "--keep", "2")
        assert made.returncode == 0, made.stderr
        assert "1 namespaces, 1 states, 1 action values" in made.stdout
    assert "removed 1 older backups: rlem-backup-" in made.stdout
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and all(n.startswith("rlem-backup-") for n in names)

    listed = json.loads(rlem("backup", "list", str(folder), "--json").stdout)
    assert [Path(b["path"]).name for b in listed] == names
    assert listed[0]["manifest"]["contents"]["namespaces"][0]["states"] == 1
    table = rlem("backup", "list", str(folder))
    assert table.returncode == 0, table.stderr
    for name in names:
        assert name in table.stdout
    assert make_url(db_url).get_backend_name() in table.stdout

    verified = rlem("backup", "verify", str(folder / names[-1]))
    assert verified.returncode == 0, verified.stderr
    assert "is intact: 1 namespaces, 1 states" in verified.stdout
    one_line_error(rlem("backup", "list", str(tmp_path / "none")), "is not a folder")


@pytest.mark.slow
def test_verify_of_a_folder_of_backups_checks_the_newest_and_names_it(embedder, tmp_path):
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    folder = tmp_path / "backups"
    fill(url, embedder, ["a"])
    older = create_backup(url, folder)
    fill(url, embedder, ["b"])
    newest = create_backup(url, folder)
    data = older.path / older.manifest.data_file
    data.write_bytes(b"damaged" + data.read_bytes())  # verifying the older one would fail

    verified = rlem("backup", "verify", str(folder))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.splitlines() == [
        f"{folder} is a folder of backups: verifying the newest, {newest.path.name}",
        f"{newest.path} is intact: 1 namespaces, 2 states, 2 action values, "
        f"schema revision {newest.manifest.contents.schema_revision}",
    ]

    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(
        rlem("backup", "verify", str(empty)),
        f"{empty} holds no backup: pass a backup folder (rlem-backup-...) or a folder that "
        "`rlem backup create -o` wrote backups into",
    )


@pytest.mark.slow
@pytest.mark.postgres
def test_missing_postgres_tools_are_named_with_how_to_install_them(tmp_path):
    require_postgres()
    url = create_pg_database()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "rlem.cli", "backup", "create", "--db", url, "-o", str(tmp_path)],
            capture_output=True,
            text=True,
            env={**os.environ, "PATH": str(tmp_path)},
            timeout=300,
        )
    finally:
        drop_pg_database(url)
    one_line_error(result, "pg_dump not found on PATH: install the PostgreSQL client tools")
    assert list(tmp_path.iterdir()) == []
