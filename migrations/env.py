"""Alembic environment: runs on the connection rlem hands over, or on `-x db=URL` from the alembic CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from memory_store.db.models import SCHEMA_VERSION_TABLE, Base

config = context.config


def run(connection) -> None:
    """Run the pending migrations on one open connection."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=SCHEMA_VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("rlem migrations run online only: use `rlem db upgrade --db URL`")

given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    url = context.get_x_argument(as_dictionary=True).get("db") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database given: run `alembic -x db=URL upgrade head`")
    with create_engine(url).begin() as connection:
        run(connection)
