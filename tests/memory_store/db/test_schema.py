"""Schema revisions: fresh databases are created, old ones upgrade intact, mismatches are refused."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from memory_store import ExperienceStore, StoreConfig
from memory_store.db.database import Database, parse_url
from memory_store.db.models import SCHEMA_VERSION_TABLE, Base, observation_hash
from memory_store.db.schema import alembic_config, current_revision, head_revision, upgrade
from memory_store.errors import SchemaOutOfDate, SchemaTooNew
from memory_store.store import open_database
from tests.memory_store.db.revisions import at_first_revision_with_data


def revision_of(url: str) -> str | None:
    db = Database(parse_url(url))
    try:
        with db.engine.connect() as connection:
            return current_revision(connection)
    finally:
        db.close()


def test_a_fresh_database_is_created_at_the_newest_revision(db_url):
    open_database(db_url).close()
    assert revision_of(db_url) == head_revision()


def test_upgrade_from_the_first_revision_keeps_every_row(db_url):
    at_first_revision_with_data(db_url)
    assert revision_of(db_url) == "0001"
    db = Database(parse_url(db_url))
    try:
        result = upgrade(db)
        assert (result.before, result.after) == ("0001", head_revision())
        with db.engine.connect() as connection:
            namespace = connection.execute(
                text("SELECT name, embedding_dim, max_states, eviction_policy FROM rlem_namespaces")
            ).one()
            state = connection.execute(
                text(
                    "SELECT task, observation, extra, visits, last_reward, total_reward FROM rlem_experiences"
                )
            ).one()
            hashed = connection.execute(text("SELECT observation_hash FROM rlem_experiences")).scalar_one()
            generation = connection.execute(text("SELECT generation FROM rlem_namespaces")).scalar_one()
            action = connection.execute(
                text("SELECT action, reason, q, reward, visits FROM rlem_action_values")
            ).one()
    finally:
        db.close()
    assert tuple(namespace) == ("old", 384, None, "paper")
    assert tuple(state) == ("task", "obs", "x", 3, 0.5, 1.5)
    # Revision 0006 names each stored observation by its hash.
    assert hashed == observation_hash("obs")
    # Revision 0007 gives each namespace a content generation of its own.
    assert len(generation) == 32 and int(generation, 16) >= 0
    assert tuple(action) == ("a", "because", 0.25, 1.0, 3)


def test_an_out_of_date_database_is_refused_with_the_fix(db_url, embedder):
    at_first_revision_with_data(db_url)
    with pytest.raises(SchemaOutOfDate, match=r"revision 0001, this rlem needs .*run `rlem db upgrade --db"):
        ExperienceStore.open(StoreConfig(url=db_url, persist_index=False), embedder=embedder)
    assert revision_of(db_url) == "0001"


def test_a_database_from_a_newer_rlem_is_refused(db_url, embedder):
    open_database(db_url).close()
    db = Database(parse_url(db_url))
    with db.write_engine.begin() as connection:
        connection.execute(text("UPDATE rlem_schema_version SET version_num = '9999_future'"))
    db.close()
    with pytest.raises(SchemaTooNew, match="9999_future.*upgrade rlem"):
        ExperienceStore.open(StoreConfig(url=db_url, persist_index=False), embedder=embedder)
    db = Database(parse_url(db_url))
    try:
        with pytest.raises(SchemaTooNew):
            upgrade(db)
    finally:
        db.close()
    assert revision_of(db_url) == "9999_future"


def test_the_migrations_build_the_schema_the_models_describe(db_url):
    open_database(db_url).close()
    db = Database(parse_url(db_url))
    try:
        with db.engine.connect() as connection:
            differences = compare_metadata(
                MigrationContext.configure(connection, opts={"version_table": SCHEMA_VERSION_TABLE}),
                Base.metadata,
            )
    finally:
        db.close()
    assert differences == []


def test_revision_0008_downgrades_and_upgrades_again(db_url):
    open_database(db_url).close()
    db = Database(parse_url(db_url))
    try:
        with db.write_engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0007")
        with db.engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            audit_columns = {c["name"] for c in inspect(connection).get_columns("rlem_audit")}
        assert "rlem_api_keys" not in tables and "actor" not in audit_columns
        assert upgrade(db).after == head_revision()
    finally:
        db.close()
