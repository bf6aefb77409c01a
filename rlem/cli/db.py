"""`rlem db`: schema revisions of a memory database."""

from __future__ import annotations

import typer

from memory_store.db.database import Database, parse_url, require_existing
from memory_store.db.schema import current_revision, describe, head_revision, upgrade
from rlem.cli.console import console
from rlem.cli.options import DbOption

app = typer.Typer(help="Inspect and upgrade the schema of a memory database.", no_args_is_help=True)


def connect(url: str) -> Database:
    """Open a database without checking its schema (these commands are how it gets fixed)."""
    db = Database(parse_url(url))
    db.ping()
    return db


@app.command("upgrade")
def upgrade_command(db: DbOption) -> None:
    """Bring the database to the newest schema (creating it if empty); data is kept."""
    database = connect(db)
    try:
        result = upgrade(database)
    finally:
        database.close()
    if result.before == result.after:
        console.print(
            f"{database.display_url} is already at the newest schema revision {result.after}", markup=False
        )
    else:
        console.print(
            f"upgraded {database.display_url} from revision {result.before or 'empty'} to {result.after}",
            markup=False,
        )


@app.command("status")
def status_command(db: DbOption) -> None:
    """Show the database's schema revision and the newest one this rlem knows."""
    require_existing(parse_url(db))
    database = connect(db)
    try:
        with database.engine.connect() as connection:
            revision = current_revision(connection)
    finally:
        database.close()
    console.print(
        f"{database.display_url}: revision {revision or 'none'}, newest {head_revision()} "
        f"({describe(revision)})",
        markup=False,
    )
