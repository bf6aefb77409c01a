"""The PostgreSQL server of the tests: RLEM_TEST_PG_URL (default: postgres on 127.0.0.1:5432), an
admin connection to it, scratch databases, and the skip (or, with RLEM_REQUIRE_POSTGRES=1, the
failure) of a test that needs it where it does not answer."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


PG_URL = os.environ.get("RLEM_TEST_PG_URL", DEFAULT_PG_URL)


REQUIRE_PG = os.environ.get("RLEM_REQUIRE_POSTGRES") == "1"


def admin_connection():
    """An autocommit psycopg connection to the test server's maintenance database."""
    import psycopg

    url = make_url(PG_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=3,
    )


def postgres_problem() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server answers."""
    import psycopg

    try:
        with admin_connection():
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


PG_PROBLEM = postgres_problem()


def create_pg_database() -> str:
    """Create an empty database on the test server and return its SQLAlchemy URL."""
    name = f"rlem_test_{uuid.uuid4().hex[:12]}"
    with admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_pg_database(db_url: str) -> None:
    """Drop a test database, disconnecting anything still attached."""
    with admin_connection() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)')


def require_postgres() -> None:
    """Skip (or, when required, fail) a test that needs PostgreSQL if it is not reachable."""
    if PG_PROBLEM is None:
        return
    message = (
        f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string(hide_password=True)} "
        f"({PG_PROBLEM}); start it or set RLEM_TEST_PG_URL=postgresql+psycopg://user@host:port/db "
        "to run the PostgreSQL tests"
    )
    if REQUIRE_PG:
        pytest.fail(message)
    pytest.skip(message)
