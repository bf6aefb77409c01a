"""API keys: made, checked, listed and revoked; only their hash is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from memory_store.admin.keys import create_key, has_keys, list_keys, revoke_key, verify_token
from memory_store.db.models import ApiKeyRow
from memory_store.errors import InvalidArgument, NotFound
from memory_store.store import open_database


@pytest.fixture
def db(db_url: str):
    database = open_database(db_url)
    yield database
    database.close()


def test_a_token_verifies_until_revoked_and_only_its_hash_is_stored(db) -> None:
    assert not has_keys(db)
    key, token = create_key(db, namespace="shop", scope="act", label="rollouts")
    assert token.startswith("rlem_") and len(token) > 40 and key.prefix == token[:12]
    found = verify_token(db, token)
    assert found is not None and (found.id, found.namespace, found.scope) == (key.id, "shop", "act")
    with db.engine.connect() as connection:
        rows = [tuple(map(str, row)) for row in connection.execute(text("SELECT * FROM rlem_api_keys"))]
    assert rows and not any(token in cell for row in rows for cell in row)
    assert has_keys(db)
    assert verify_token(db, token + "x") is None and verify_token(db, "rlem_nope") is None
    assert verify_token(db, "not even a token") is None
    revoke_key(db, key.id)
    assert verify_token(db, token) is None and not has_keys(db)
    assert list_keys(db) == [] and [k.id for k in list_keys(db, revoked=True)] == [key.id]
    assert revoke_key(db, key.id).revoked_at is not None  # twice is fine


def test_scopes_include_the_ones_before_and_a_key_covers_its_namespace_and_rlems_beside_it(db) -> None:
    read, _ = create_key(db, namespace="shop", scope="read")
    admin, _ = create_key(db, namespace="*", scope="admin")
    assert read.allows("read") and not read.allows("act") and not read.allows("admin")
    assert admin.allows("read") and admin.allows("act") and admin.allows("admin")
    assert read.covers("shop") and read.covers("shop~q2")
    assert not read.covers("shopping") and not read.covers("other")
    assert admin.covers("anything") and "key" in admin.actor and admin.prefix in admin.actor


def test_bad_keys_are_refused_before_anything_is_written(db) -> None:
    with pytest.raises(InvalidArgument, match="scope"):
        create_key(db, namespace="shop", scope="owner")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        create_key(db, namespace=" padded ", scope="read")
    with pytest.raises(NotFound, match="no API key with id 99"):
        revoke_key(db, 99)
    assert list_keys(db, revoked=True) == []


def test_last_use_is_written_at_most_once_a_minute(db) -> None:
    key, token = create_key(db, namespace="shop", scope="read")
    first = verify_token(db, token)
    assert first is not None
    used = list_keys(db)[0].last_used_at
    assert used is not None
    verify_token(db, token)
    assert list_keys(db)[0].last_used_at == used
    db.write(lambda s: s.get(ApiKeyRow, key.id).__setattr__("last_used_at", used - timedelta(minutes=2)))
    verify_token(db, token)
    assert list_keys(db)[0].last_used_at > used - timedelta(minutes=2)
