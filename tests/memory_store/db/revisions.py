"""Databases at an old schema revision, holding data, for upgrade, backup and `rlem db` tests."""

from __future__ import annotations

from sqlalchemy import text

from memory_store.db.database import Database, parse_url
from memory_store.db.schema import upgrade


def at_first_revision_with_data(url: str) -> None:
    """A database at revision 0001 holding one namespace, one state and one action value."""
    db = Database(parse_url(url))
    try:
        upgrade(db, "0001")
        stamp = "2026-01-01 00:00:00"
        with db.write_engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO rlem_namespaces (id, name, embedding_model, embedding_dim, states_inserted,"
                    " states_deleted, created_at, updated_at)"
                    " VALUES (1, 'old', 'all-MiniLM-L6-v2', 384, 1, 0, :t, :t)"
                ),
                {"t": stamp},
            )
            connection.execute(
                text(
                    "INSERT INTO rlem_experiences (id, namespace_id, state_hash, task, observation,"
                    " available_actions, extra, embedding, visits, last_reward, total_reward,"
                    " action_history, created_at, updated_at)"
                    " VALUES (1, 1, 'h', 'task', 'obs', '[\"a\"]', 'x', :e, 3, 0.5, 1.5, '[]', :t, :t)"
                ),
                {"t": stamp, "e": b"\x00" * 1536},
            )
            connection.execute(
                text(
                    "INSERT INTO rlem_action_values (experience_id, action_hash, action, reason, q, reward,"
                    " visits, updated_at) VALUES (1, 'ah', 'a', 'because', 0.25, 1.0, 3, :t)"
                ),
                {"t": stamp},
            )
    finally:
        db.close()
