"""States carry the hash of their observation, indexed: the same observation across tasks is found
by identity (a namespace that retrieves on the observation alone pools those states' values).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHUNK = 5000


def upgrade() -> None:
    """Add rlem_experiences.observation_hash, fill it for every stored state, and index it."""
    op.add_column("rlem_experiences", sa.Column("observation_hash", sa.String(64), nullable=True))
    bind = op.get_bind()
    table = sa.table(
        "rlem_experiences", sa.column("id"), sa.column("observation"), sa.column("observation_hash")
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.observation)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        bind.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")),
            [
                {"row_id": row.id, "observation_hash": hashlib.sha256(row.observation.encode()).hexdigest()}
                for row in rows
            ],
        )
        after = rows[-1].id
    # Left nullable in the schema: making it NOT NULL would make SQLite rebuild the table, and
    # dropping the old one would cascade to every action value. Every insert fills it (db/models.py).
    op.create_index(
        "ix_rlem_experiences_observation", "rlem_experiences", ["namespace_id", "observation_hash"]
    )


def downgrade() -> None:
    """Drop rlem_experiences.observation_hash and its index."""
    op.drop_index("ix_rlem_experiences_observation", "rlem_experiences")
    # In place (SQLite 3.35 and later): a batch rebuild would cascade to every action value.
    op.execute("ALTER TABLE rlem_experiences DROP COLUMN observation_hash")
