"""Schema revisions: which one a database is at, bringing it to the newest, refusing mismatches."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from memory_store.db.database import Database
from memory_store.db.models import SCHEMA_VERSION_TABLE, Base
from memory_store.errors import SchemaOutOfDate, SchemaTooNew


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration over rlem's migrations, bound to `connection` if given."""
    config = Config()
    config.set_main_option("script_location", str(files("memory_store.migrations")))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this rlem knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "rlem ships at least one migration"
    return head


def known_revisions() -> set[str]:
    """Every schema revision this rlem knows."""
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at; None when it has no rlem schema version."""
    context = MigrationContext.configure(connection, opts={"version_table": SCHEMA_VERSION_TABLE})
    try:
        return context.get_current_revision()
    except (SQLAlchemyError, CommandError) as exc:
        problem = str(exc).strip().splitlines()[0]
        raise SchemaOutOfDate(
            f"the database's {SCHEMA_VERSION_TABLE} table was not written by rlem ({problem}): "
            "point --db at an rlem database or a new file"
        ) from None


def describe(revision: str | None) -> str:
    """What a database's revision means for this rlem, as `rlem db status` says it."""
    if revision == head_revision():
        return "up to date"
    if revision is not None and revision not in known_revisions():
        return "written by a newer rlem: upgrade rlem to open it"
    return "needs `rlem db upgrade`"


@dataclass(frozen=True)
class UpgradeResult:
    """What `upgrade` did: the revision before and after."""

    before: str | None
    after: str


def upgrade(db: Database, target: str = "head") -> UpgradeResult:
    """Bring the database to `target` in one transaction that excludes concurrent upgraders."""
    known = known_revisions()

    def work(session) -> UpgradeResult:
        connection = session.connection()
        if db.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('rlem-schema'))"))
        before = current_revision(connection)
        if before is not None and before not in known:
            raise too_new(db, before)
        command.upgrade(alembic_config(connection), target)
        after = current_revision(connection)
        assert after is not None
        return UpgradeResult(before, after)

    return db.write(work)


def too_new(db: Database, revision: str) -> SchemaTooNew:
    """The error for a database written by a newer rlem."""
    return SchemaTooNew(
        f"database {db.display_url} has schema revision {revision}, which this rlem does not know "
        f"(newest known: {head_revision()}): upgrade rlem to open it"
    )


def ensure_current(db: Database, *, create: bool = True) -> None:
    """Check the database is at the newest revision; a database with no rlem tables is created.

    Raises SchemaOutOfDate (with the command that fixes it) or SchemaTooNew.
    """
    head = head_revision()
    with db.engine.connect() as connection:
        revision = current_revision(connection)
        tables = set(inspect(connection).get_table_names())
    if revision == head:
        return
    others = sorted(tables - set(Base.metadata.tables) - {SCHEMA_VERSION_TABLE})
    if revision is None and others:
        # The same rule for commands that write and those that read: never add rlem's tables to a
        # database of something else unasked.
        raise SchemaOutOfDate(
            f"database {db.display_url} is not an rlem memory (it holds {', '.join(others[:5])}): point "
            f"--db at an rlem database or a new file, or add rlem's tables with `rlem db upgrade --db ...`"
        )
    if revision is None and not tables & set(Base.metadata.tables) and create:
        upgrade(db)
        return
    if revision is None:
        raise SchemaOutOfDate(
            f"database {db.display_url} has no rlem schema yet: run `rlem db upgrade --db {db.display_url}`"
        )
    if revision not in known_revisions():
        raise too_new(db, revision)
    raise SchemaOutOfDate(
        f"database {db.display_url} is at schema revision {revision}, this rlem needs {head}: "
        f"run `rlem db upgrade --db {db.display_url}` (back it up first)"
    )
