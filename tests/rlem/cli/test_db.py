"""`rlem db` run as a user runs it: as a subprocess, reading exit codes and output."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_store.db.schema import head_revision
from tests.cli import rlem
from tests.memory_store.db.revisions import at_first_revision_with_data

HEAD = head_revision()


@pytest.mark.slow
def test_upgrade_creates_then_reports_current(db_url):
    first = rlem("db", "upgrade", "--db", db_url)
    assert first.returncode == 0, first.stderr
    assert f"from revision empty to {HEAD}" in first.stdout
    second = rlem("db", "upgrade", "--db", db_url)
    assert f"already at the newest schema revision {HEAD}" in second.stdout
    status = rlem("db", "status", "--db", db_url)
    assert f"revision {HEAD}, newest {HEAD} (up to date)" in status.stdout


@pytest.mark.slow
def test_status_and_upgrade_of_an_old_database(db_url):
    at_first_revision_with_data(db_url)
    assert (
        f"revision 0001, newest {HEAD} (needs `rlem db upgrade`)"
        in rlem("db", "status", "--db", db_url).stdout
    )
    upgraded = rlem("db", "upgrade", "--db", db_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"from revision 0001 to {HEAD}" in upgraded.stdout


@pytest.mark.slow
def test_bad_urls_fail_with_one_line_and_exit_1(tmp_path: Path):
    for url, message in [
        ("mysql://root@localhost/test", "unsupported database 'mysql'"),
        (f"sqlite:///{tmp_path}/missing/memory.db", "does not exist"),
        ("postgresql+psycopg://postgres@127.0.0.1:9/x", "cannot open database"),
    ]:
        result = rlem("db", "upgrade", "--db", url)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
