"""Bad database URLs and unreachable databases get one clear line and change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_store.database import parse_url
from memory_store.errors import DatabaseUnavailable, DatabaseURLError
from memory_store.store import open_database


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
