"""`rlem keys` as a user runs it: the token printed once and alone, listings without secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory_store.admin.keys import verify_token
from memory_store.store import open_database
from tests.cli import one_line_error, rlem

pytestmark = pytest.mark.slow


def test_create_list_revoke(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'memory.db'}"
    made = rlem("keys", "create", "--db", db, "-n", "shop", "--scope", "act", "--label", "workers")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert "\n" not in token and "shown once" in made.stderr
    database = open_database(db)
    try:
        key = verify_token(database, token)
        assert key is not None and (key.namespace, key.scope) == ("shop", "act")
    finally:
        database.close()
    listed = rlem("keys", "ls", "--db", db, "--json")
    assert json.loads(listed.stdout)[0]["label"] == "workers"
    assert token not in listed.stdout and token[12:20] not in rlem("keys", "ls", "--db", db).stdout
    assert rlem("keys", "revoke", str(key.id), "--db", db).returncode == 0
    assert json.loads(rlem("keys", "ls", "--db", db, "--json").stdout) == []
    one_line_error(rlem("keys", "revoke", "7", "--db", db), "no API key with id 7")
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    one_line_error(rlem("keys", "ls", "--db", missing), "no memory database")


def test_a_bad_key_leaves_no_database_behind(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    one_line_error(rlem("keys", "create", "--db", f"sqlite:///{path}", "-n", "", "--scope", "read"), "empty")
    long = "x" * 201
    one_line_error(
        rlem("keys", "create", "--db", f"sqlite:///{path}", "-n", "a", "--scope", "read", "--label", long),
        "at most 200 characters",
    )
    assert not path.exists()
