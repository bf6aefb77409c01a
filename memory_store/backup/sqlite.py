"""SQLite backups: a consistent copy while writers go on, checks of a copy, and the swap onto the live db."""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from memory_store.backup.manifest import BackupError, Contents, mismatch, read_contents
from memory_store.db.database import describe

DATA_FILE = "memory.db"
CHUNK = 1 << 20


def readonly_engine(path: Path) -> Engine:
    """An engine that only reads `path`: for backup files, which must never change."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool)


def snapshot(source: Path, dest: Path, busy_timeout_s: float) -> None:
    """Copy the database as of one moment into `dest`, as a self-contained file without a WAL.

    SQLite's backup API in a single step reads one consistent snapshot; in WAL mode the writers of
    other processes go on meanwhile (stepping in pieces would restart on each of their commits).
    """
    try:
        with closing(sqlite3.connect(source, timeout=busy_timeout_s)) as src:
            with closing(sqlite3.connect(dest)) as dst:
                src.backup(dst)
                # The copy inherits WAL mode; a rollback-journal file opens read-only with no side files.
                dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source}: {exc}") from None
    sync_file(dest)


def check_file(path: Path) -> Contents:
    """Run SQLite's integrity and foreign key checks on a database file, then count what it holds."""
    engine = readonly_engine(path)
    try:
        with engine.connect() as connection:
            problems = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{path} fails SQLite's integrity check: {problems[0]}")
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
            if broken is not None:
                raise BackupError(
                    f"{path}: row {broken[1]} of {broken[0]} refers to a missing row of {broken[2]}"
                )
            return read_contents(connection)
    except DBAPIError as exc:
        raise BackupError(f"{path} cannot be read as a SQLite database: {describe(exc)}") from None
    finally:
        engine.dispose()


def target_contents(target: Path) -> Contents | None:
    """What the restore target holds now; None when the file does not exist."""
    if not target.exists():
        return None
    engine = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return read_contents(connection)
    except DBAPIError as exc:
        raise BackupError(f"cannot read the restore target {target}: {describe(exc)}") from None
    finally:
        engine.dispose()


def restore(data: Path, sha256: str, expected: Contents, target: Path, wait_s: float) -> None:
    """Copy the backup beside the target, check the copy against the manifest, then swap it in."""
    temp, digest = copy_beside(data, target)
    try:
        if digest != sha256:
            raise BackupError(f"{data} changed while it was being copied: restore again")
        problem = mismatch(check_file(temp), expected)
        if problem is not None:
            raise BackupError(f"the restored copy does not match the manifest: {problem}")
        install(temp, target, wait_s)
    finally:
        temp.unlink(missing_ok=True)


def copy_beside(data: Path, target: Path) -> tuple[Path, str]:
    """Copy `data` to a new hidden file beside `target`, flushed to disk; return it and its SHA-256."""
    temp = target.with_name(f".{target.name}.restore-{secrets.token_hex(4)}")
    digest = hashlib.sha256()
    try:
        with data.open("rb") as src, temp.open("xb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BackupError(f"cannot write {temp}: {exc.strerror}") from None
    return temp, digest.hexdigest()


def install(temp: Path, target: Path, wait_s: float) -> None:
    """Rename the checked copy onto `target`, once it is safe to (see take_over)."""
    if target.exists():
        take_over(target, wait_s)
    else:
        # Side files left by a deleted database would be replayed into the new one.
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(temp, target)
    sync_file(target.parent)


def take_over(target: Path, wait_s: float) -> None:
    """Wait until no other connection has the target open, and fold its WAL into the file.

    Leaving WAL mode succeeds only on a database's sole connection: so no process keeps writing to
    the file about to be replaced, and no `-wal` is left to be replayed into the new one. Other
    connections get `wait_s` to close; after that the restore is refused.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with closing(sqlite3.connect(target, timeout=wait_s)) as connection:
                connection.execute("PRAGMA journal_mode=DELETE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise BackupError(f"cannot take {target} over: {exc}") from None
            if time.monotonic() > deadline:
                raise BackupError(
                    f"{target} is open in another process: stop the agents using it and restore again "
                    "(nothing was changed)"
                ) from None
        time.sleep(0.1)


def sync_file(path: Path) -> None:
    """Flush a file's (or a directory's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
