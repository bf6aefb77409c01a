"""Fixtures of the service tests: real `rlem serve` processes on loopback (tests/servers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import create_pg_database, drop_pg_database, require_postgres
from tests.servers import ServerProcess


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database shared by one module's server: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('served') / 'memory.db'}"
        return
    require_postgres()
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="module")
def server(served_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One memory-greedy server for a module's tests, on a database without keys (it prints the first)."""
    with ServerProcess.start(served_db, tmp_path_factory.mktemp("server"), "--episode-ttl", "600") as running:
        yield running


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A test's own folder for a server's logs and backups."""
    return tmp_path / "server"
