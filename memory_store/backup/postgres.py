"""PostgreSQL backups: pg_dump of an exported snapshot, restores into scratch databases, and the swap.

The dump and the manifest's counts come from one REPEATABLE READ snapshot: the counting
transaction exports it (`pg_export_snapshot`) and pg_dump reads through it (`--snapshot`). A
restore goes into a new database first; only once that is checked are the live and the new
database renamed, both in one transaction, and the old one dropped after that commits.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from memory_store.backup.manifest import BackupError, Contents, mismatch, read_contents
from memory_store.db.database import describe
from memory_store.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

DATA_FILE = "memory.dump"
MAINTENANCE_DB = "postgres"
INSTALL_HINT = (
    "install the PostgreSQL client tools of the server's major version or newer "
    "(Debian/Ubuntu: apt-get install postgresql-client; macOS: brew install libpq)"
)
# PostgreSQL cuts identifiers at 63 bytes; leave room for the suffixes below.
NAME_ROOM = 40


def run_tool(name: str, args: list[str], url: URL | None = None) -> None:
    """Run pg_dump or pg_restore; the password travels in the environment, not on the command line."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} not found on PATH: {INSTALL_HINT}")
    env = dict(os.environ)
    if url is not None and url.password:
        env["PGPASSWORD"] = str(url.password)
    result = subprocess.run([path, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        # Warnings may come first; the error is what the user needs to see.
        errors = [line for line in lines if "error" in line.lower()]
        raise BackupError(f"{name} failed: {(errors or lines or [f'exit code {result.returncode}'])[0]}")


def libpq_uri(url: URL) -> str:
    """The URL as libpq reads it, without the password."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def engine_on(url: URL, database: str | None = None, *, autocommit: bool = False) -> Engine:
    """An unpooled engine on `database` (default: the URL's) of the URL's server."""
    target = url if database is None else url.set(database=database)
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    return create_engine(target, poolclass=NullPool, **options)


def quoted(connection: Connection, name: str) -> str:
    """A database name as a quoted SQL identifier."""
    return connection.dialect.identifier_preparer.quote_identifier(name)


def dump(url: URL, dest: Path) -> Contents:
    """pg_dump the database into `dest` (custom format) and count, both in one snapshot."""
    engine = engine_on(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            contents = read_contents(connection)
            # The exporting transaction stays open until pg_dump is done: the snapshot lives as long.
            run_tool(
                "pg_dump",
                ["--format=custom", f"--snapshot={snapshot}", f"--file={dest}", libpq_uri(url)],
                url,
            )
            connection.rollback()
    except DBAPIError as exc:
        raise DatabaseUnavailable(f"cannot back up {display(url)}: {describe(exc)}") from None
    finally:
        engine.dispose()
    return contents


def display(url: URL) -> str:
    """The URL for messages, password hidden."""
    return url.render_as_string(hide_password=True)


def database_exists(url: URL, name: str) -> bool:
    """Whether the server holds a database of that name."""
    engine = engine_on(url, MAINTENANCE_DB, autocommit=True)
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.first() is not None
    except DBAPIError as exc:
        raise DatabaseUnavailable(f"cannot reach the server of {display(url)}: {describe(exc)}") from None
    finally:
        engine.dispose()


def contents_of(url: URL) -> Contents:
    """Count what a database holds."""
    engine = engine_on(url)
    try:
        with engine.connect() as connection:
            return read_contents(connection)
    except DBAPIError as exc:
        raise DatabaseUnavailable(f"cannot read {display(url)}: {describe(exc)}") from None
    finally:
        engine.dispose()


def target_contents(url: URL) -> Contents | None:
    """What the restore target holds now; None when the database does not exist."""
    if url.database == MAINTENANCE_DB:
        raise BackupError(
            f"{display(url)} is the server's maintenance database: restore into another database"
        )
    return contents_of(url) if database_exists(url, str(url.database)) else None


def admin(url: URL, statement: str, name: str) -> None:
    """Run CREATE or DROP DATABASE on `name` from the maintenance database."""
    engine = engine_on(url, MAINTENANCE_DB, autocommit=True)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement.format(name=quoted(connection, name)))
    except DBAPIError as exc:
        raise BackupError(f"cannot {statement.split()[0].lower()} database {name}: {describe(exc)}") from None
    finally:
        engine.dispose()


def restore_scratch(url: URL, name: str, data: Path, expected: Contents) -> None:
    """Create database `name` on the URL's server, pg_restore `data` into it and check it."""
    admin(url, "CREATE DATABASE {name} TEMPLATE template0", name)
    scratch = url.set(database=name)
    run_tool(
        "pg_restore",
        [
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            "-d",
            libpq_uri(scratch),
            str(data),
        ],
        url,
    )
    problem = mismatch(contents_of(scratch), expected)
    if problem is not None:
        raise BackupError(f"the restored copy does not match the manifest: {problem}")


def trial_restore(server: URL, data: Path, expected: Contents) -> None:
    """Restore into a scratch database on `server`, check it against the manifest, and drop it."""
    name = f"rlem_verify_{secrets.token_hex(6)}"
    try:
        restore_scratch(server, name, data, expected)
    finally:
        drop_quietly(server, name)


def restore(data: Path, expected: Contents, target: URL, exists: bool, wait_s: float) -> None:
    """Restore into a new database, check it, then rename it into the target's place.

    The live database is renamed aside in the same transaction, and dropped only once that has
    committed; killed before then, the server holds the live database unchanged (and maybe a
    `<target>_restore_<hex>` to drop by hand).
    """
    name = str(target.database)
    scratch = f"{name[:NAME_ROOM]}_restore_{secrets.token_hex(4)}"
    old = f"{name[:NAME_ROOM]}_old_{secrets.token_hex(4)}"
    try:
        restore_scratch(target, scratch, data, expected)
        swap(target, scratch, old if exists else None, wait_s)
    except BaseException:
        drop_quietly(target, scratch)
        raise
    if exists:
        drop_quietly(target, old)


def drop_quietly(url: URL, name: str) -> None:
    """Drop a database of ours (a scratch copy, or the replaced one), only warning if that fails."""
    try:
        admin(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", name)
    except BackupError as exc:
        log.warning("%s; drop database %s by hand", exc, name)


def swap(target: URL, scratch: str, old: str | None, wait_s: float) -> None:
    """Rename target to `old` (when it exists) and `scratch` to target, in one transaction.

    Renaming needs the database to have no sessions: with agents still connected it is refused,
    not forced, since their open transactions would be cut off mid-update.
    """
    name = str(target.database)
    engine = engine_on(target, MAINTENANCE_DB)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait_s * 1000)}ms'")
            if old is not None:
                connection.exec_driver_sql(
                    f"ALTER DATABASE {quoted(connection, name)} RENAME TO {quoted(connection, old)}"
                )
            connection.exec_driver_sql(
                f"ALTER DATABASE {quoted(connection, scratch)} RENAME TO {quoted(connection, name)}"
            )
    except DBAPIError as exc:
        raise BackupError(
            f"cannot swap the restored copy in: {describe(exc)} (stop the agents using {name} and restore "
            "again; nothing was changed)"
        ) from None
    finally:
        engine.dispose()
