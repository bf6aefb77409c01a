"""Bad database URLs and unreachable databases get one clear line and change nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from memory_store import Averaging, ExperienceStore, StoreConfig, Update
from memory_store.db.database import Database, parse_url
from memory_store.errors import DatabaseUnavailable, DatabaseURLError
from memory_store.store import open_database
from tests.postgres import admin_connection


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "cannot parse database URL"),
        ("mysql://root@localhost/test", "unsupported database 'mysql'"),
        ("sqlite://", "in-memory SQLite"),
        ("sqlite:///:memory:", "in-memory SQLite"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432", "names no database"),
    ],
)
def test_unusable_urls_are_refused(url: str, message: str):
    with pytest.raises(DatabaseURLError, match=message) as caught:
        parse_url(url)
    assert "\n" not in str(caught.value)


def test_a_missing_directory_is_named(tmp_path: Path):
    with pytest.raises(DatabaseURLError, match="directory .*nowhere does not exist"):
        parse_url(f"sqlite:///{tmp_path}/nowhere/memory.db")


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n")
    with pytest.raises(DatabaseURLError, match="is not a SQLite database"):
        open_database(f"sqlite:///{path}")
    assert path.read_text() == "shopping list\n"


def test_a_directory_is_refused(tmp_path: Path):
    with pytest.raises(DatabaseURLError, match="is a directory"):
        parse_url(f"sqlite:///{tmp_path}")


def test_an_unreachable_postgres_server_is_reported():
    with pytest.raises(
        DatabaseUnavailable, match=r"cannot open database postgresql\+psycopg://postgres@127.0.0.1:9/x"
    ):
        open_database("postgresql+psycopg://postgres@127.0.0.1:9/x")


def terminate(backend_pid: int) -> None:
    """Kill one server backend, as an administrator, a failover or a restart would."""
    with admin_connection() as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))


@pytest.mark.postgres
def test_a_write_whose_connection_is_killed_is_run_again_and_commits_once(pg_url, embedder, caplog):
    with ExperienceStore.open(StoreConfig(url=pg_url, persist_index=False), embedder=embedder) as store:
        attempts = []

        def work(tx):
            attempts.append(1)
            outcome = tx.apply([Update("task", "obs", "go", target=1.0, reward=1.0)], Averaging.MEAN, 0.1)
            if len(attempts) == 1:
                terminate(tx.session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                tx.session.execute(text("SELECT 1"))  # the dead connection fails here
            return outcome

        with caplog.at_level(logging.WARNING):
            store.transaction(work)
        assert len(attempts) == 2
        assert "lost the connection" in caplog.text
        record = store.get("task", "obs")
        assert record.visits == 1 and record.action("go").visits == 1
        assert [hit.experience.id for hit in store.top_k("task", "obs")] == [record.id]
        assert len(store) == 1 and len(store.index) == 1


@pytest.mark.postgres
def test_a_connection_that_stays_lost_is_one_clear_error(pg_url, embedder):
    db = Database(parse_url(pg_url), reconnect_s=0.5)
    try:

        def work(session):
            terminate(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
            session.execute(text("SELECT 1"))

        with pytest.raises(DatabaseUnavailable, match=r"connection to .* was lost .*could not be regained"):
            db.write(work)
    finally:
        db.close()
