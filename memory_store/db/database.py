"""Database connections: URL checks, SQLite and PostgreSQL engines, and write transactions that retry.

SQLite writers take the database lock up front (`BEGIN IMMEDIATE`), so a read-modify-write inside
one transaction never interleaves with another process; rlem's writers first queue on a lock file
beside the database (`WriterQueue`), so one waiting for another starts as soon as it commits.
PostgreSQL writers lock the rows they change (`SELECT ... FOR UPDATE`). Both retry when the
database reports a transient conflict, and a transaction whose connection was lost (a server
restart, a failover, `pg_terminate_backend`) is run again on a new connection, with backoff, for up
to `reconnect_s` seconds: the server rolled back what it had not committed. Reads given as a
function (`read_call`) are run again the same way. Stale pooled connections are replaced before use
(pre-ping)."""

from __future__ import annotations

import fcntl
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Compiled, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable

from memory_store.errors import DatabaseUnavailable, DatabaseURLError, os_reason

log = logging.getLogger(__name__)

T = TypeVar("T")

SUPPORTED_URLS = "sqlite:///path/to/memory.db or postgresql+psycopg://user@host:5432/dbname"
# PostgreSQL SQLSTATEs worth another try: deadlock, serialization failure, lock not available.
TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}
# ... and those of a lost connection: admin or crash shutdown, cannot connect now; class 08.
DISCONNECT_SQLSTATES = {"57P01", "57P02", "57P03"}


def parse_url(url: str) -> URL:
    """Check a database URL and return it with the driver rlem uses, or raise DatabaseURLError."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseURLError(f"cannot parse database URL {url!r}: use {SUPPORTED_URLS}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        check_sqlite_path(parsed.database)
        return parsed
    if backend == "postgresql":
        if not parsed.database:
            raise DatabaseURLError(f"database URL {url!r} names no database: use {SUPPORTED_URLS}")
        # Plain postgresql:// would pick psycopg2; rlem ships psycopg 3.
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseURLError(f"unsupported database {backend!r} in {url!r}: use {SUPPORTED_URLS}")


def require_existing(parsed: URL) -> None:
    """Refuse a SQLite URL whose file is missing, for commands that only read: they must not create it."""
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database).exists():
        raise DatabaseUnavailable(f"no memory database at {parsed.database}")


def check_sqlite_path(database: str | None) -> None:
    """Refuse SQLite targets that cannot hold a shared, persistent memory."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise DatabaseURLError(
            "an in-memory SQLite database is private to one connection: give a file path, "
            "e.g. sqlite:///memory.db"
        )
    path = Path(database)
    try:
        is_dir, exists, parent_exists = path.is_dir(), path.exists(), path.parent.exists()
    except OSError as exc:  # a name too long for the file system, say
        raise DatabaseURLError(f"cannot use {path}: {os_reason(exc)}") from None
    if is_dir:
        raise DatabaseURLError(f"{path} is a directory, not a SQLite database file")
    if not exists:
        if not parent_exists:
            raise DatabaseURLError(f"cannot create {path}: directory {path.parent} does not exist")
        return
    # Read through SQLite, never with open() and close(): closing any descriptor of the file drops
    # every POSIX lock this process holds on it, including those of its SQLite connections, and
    # another process would then take itself for the last one and delete the live WAL.
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            probe.execute("PRAGMA schema_version")
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise DatabaseURLError(f"{path} is not a SQLite database (unexpected file header)") from None
        raise DatabaseUnavailable(f"cannot read {path}: {str(exc).lower()}") from None


def is_transient(exc: DBAPIError) -> bool:
    """True for lock and conflict errors that succeed when the transaction is tried again."""
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return "locked" in message or "busy" in message
    return getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def is_disconnect(exc: DBAPIError) -> bool:
    """True when the connection itself was lost, so the transaction never committed."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    return exc.connection_invalidated or sqlstate in DISCONNECT_SQLSTATES or sqlstate.startswith("08")


def describe(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's boilerplate."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def sqlite_engine(url: URL, *, immediate: bool, busy_timeout_s: float, synchronous: str) -> Engine:
    """An engine on a SQLite file in WAL mode whose transactions begin deferred or immediate."""
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        # Hand transaction control to the "begin" hook below instead of pysqlite's own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class WriterQueue:
    """rlem's SQLite writers on one database, queued: in a process on a lock, across processes on an
    exclusive lock of the file `<database>-writer.lock`. A writer waiting for another wakes as it
    commits, where SQLite's busy handler would poll in sleeps of up to 100 ms. Other programs'
    writers still meet the busy handler; without the lock file (a read-only folder) rlem's do too.
    One queue per database file and process (`WriterQueue.of`), shared by its `Database`s."""

    queues: dict[str, WriterQueue] = {}
    registry = threading.Lock()

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.RLock()
        self.depth = self.users = 0
        self.fd, self.pid = -1, -1
        self.reopen()

    def reopen(self) -> None:
        """Open the lock file in this process (a forked child must not share its parent's)."""
        if self.fd >= 0:
            os.close(self.fd)  # the parent's stays open, and keeps its lock
        try:
            self.fd, self.pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), os.getpid()
        except OSError:
            self.fd, self.pid = -1, os.getpid()

    @classmethod
    def of(cls, database: str) -> WriterQueue:
        """The process's queue for a database file (one more user of it)."""
        path = os.path.realpath(database) + "-writer.lock"
        with cls.registry:
            queue = cls.queues.get(path)
            if queue is None:
                queue = cls.queues[path] = cls(path)
            queue.users += 1
            return queue

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the queue for the block (a thread's nested blocks share its outer one's turn)."""
        with self.lock:
            if self.pid != os.getpid():
                self.depth = 0
                self.reopen()
            if self.depth == 0 and self.fd >= 0:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
                if self.depth == 0 and self.fd >= 0:
                    fcntl.flock(self.fd, fcntl.LOCK_UN)

    def release(self) -> None:
        """One user fewer; the last closes the lock file."""
        with self.registry:
            self.users -= 1
            if self.users == 0:
                del self.queues[self.path]
                if self.fd >= 0:
                    os.close(self.fd)


class Database:
    """An open rlem database: read sessions, retried write transactions, and its dialect."""

    def __init__(
        self,
        url: URL,
        *,
        busy_timeout_s: float = 30.0,
        sqlite_synchronous: str = "NORMAL",
        reconnect_s: float = 30.0,
    ):
        self.url = url
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = sqlite_engine(
                url, immediate=False, busy_timeout_s=busy_timeout_s, synchronous=sqlite_synchronous
            )
            self.write_engine = sqlite_engine(
                url, immediate=True, busy_timeout_s=busy_timeout_s, synchronous=sqlite_synchronous
            )
            self.writers: WriterQueue | None = WriterQueue.of(str(url.database))
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self.write_engine = self.engine
            self.writers = None
        self.retry_deadline_s = max(busy_timeout_s * 4, 60.0)
        self.reconnect_s = reconnect_s
        self.compiled: dict[Executable, Compiled] = {}

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return self.url.render_as_string(hide_password=True)

    def ping(self) -> None:
        """Open one connection, raising DatabaseUnavailable with the driver's reason if that fails."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as exc:
            raise DatabaseUnavailable(f"cannot open database {self.display_url}: {describe(exc)}") from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; its transaction ends when the block does.

        A connection lost in the block is reported as DatabaseUnavailable (a block cannot be rerun:
        `read_call` reruns a function instead; pre-ping makes this rare)."""
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except DBAPIError as exc:
            if not is_disconnect(exc):
                raise
            raise self.lost(exc) from None

    def lost(self, exc: DBAPIError, seconds: float | None = None) -> DatabaseUnavailable:
        """The error for a connection that was lost (and, after `seconds` of retries, not regained)."""
        after = f" and could not be regained in {seconds:.0f} s" if seconds is not None else ""
        return DatabaseUnavailable(
            f"the connection to {self.display_url} was lost ({describe(exc)}){after}: check the server "
            "and run again (committed work is kept; `rlem run` resumes where it stopped)"
        )

    def write(self, work: Callable[[Session], T], on_failure: Callable[[], None] | None = None) -> T:
        """Run `work` in one write transaction, committing on return and retrying on lock conflicts.

        `on_failure` runs after every attempt that did not commit, before it is retried or raised.
        """
        with self.writers.turn() if self.writers is not None else nullcontext():
            return self.retrying(self.write_engine, work, on_failure)

    def read_call(self, work: Callable[[Session], T], on_failure: Callable[[], None] | None = None) -> T:
        """Run `work` in a read session; a lost connection runs it again on a new one, as for writes
        (a read changes nothing, so running it twice is safe)."""
        return self.retrying(self.engine, work, on_failure)

    def peek(self, statement: Executable, params: dict) -> tuple | None:
        """The first row of one read statement run on its own, outside a transaction (the cheapest
        read there is: no session, no BEGIN); None if the driver failed, for the caller to read
        again through `read_call`."""
        compiled = self.compiled.get(statement)
        if compiled is None:
            compiled = self.compiled[statement] = statement.compile(dialect=self.engine.dialect)
        bound = compiled.construct_params(params)
        values = tuple(bound[name] for name in compiled.positiontup) if compiled.positional else bound
        try:
            connection = self.engine.raw_connection()
        except DBAPIError as exc:
            log.warning("cannot connect to %s (%s); trying again", self.display_url, describe(exc))
            return None
        try:
            cursor = connection.cursor()
            cursor.execute(compiled.string, values)
            row = cursor.fetchone()
            connection.rollback()  # ends PostgreSQL's transaction here, not in the pool's reset
            return row
        except Exception as exc:  # noqa: BLE001 - any driver error: the caller reads the careful way
            # A broken connection is dropped, not handed back to the pool to fail there.
            if self.engine.dialect.is_disconnect(exc, connection.dbapi_connection, None):
                log.warning("lost the connection to %s (%s); trying again", self.display_url, describe(exc))
            connection.invalidate()
            return None
        finally:
            connection.close()

    def retrying(
        self, engine: Engine, work: Callable[[Session], T], on_failure: Callable[[], None] | None
    ) -> T:
        """Run `work` in a transaction on `engine` until it returns: again after a lock conflict (for
        up to retry_deadline_s) or a lost connection (for up to reconnect_s), with backoff."""
        start = time.monotonic()
        attempt = 0
        while True:
            try:
                with Session(engine, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except BaseException as exc:
                if on_failure is not None:
                    on_failure()
                if not isinstance(exc, DBAPIError):
                    raise
                waited = time.monotonic() - start
                if is_disconnect(exc):
                    if waited > self.reconnect_s:
                        raise self.lost(exc, waited) from None
                    log.warning(
                        "lost the connection to %s (%s); trying again", self.display_url, describe(exc)
                    )
                    longest = 2.0
                elif not is_transient(exc) or waited > self.retry_deadline_s:
                    raise
                else:
                    longest = 0.5
                reason = describe(exc)
            attempt += 1
            pause = min(0.01 * 2**attempt, longest) * (0.5 + random.random())
            log.debug("transaction failed (%s); retry %d in %.3fs", reason, attempt, pause)
            time.sleep(pause)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
        if self.writers is not None:
            self.writers.release()
            self.writers = None
