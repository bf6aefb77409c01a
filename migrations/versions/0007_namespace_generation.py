"""Namespaces carry a content generation, replaced whenever their stored vectors change: a FAISS
index saved beside the database is used only at the generation it was saved at.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add rlem_namespaces.generation, a new random one per namespace (older index files rebuild)."""
    op.add_column("rlem_namespaces", sa.Column("generation", sa.String(32), nullable=True))
    bind = op.get_bind()
    table = sa.table("rlem_namespaces", sa.column("id"), sa.column("generation"))
    ids = bind.execute(sa.select(table.c.id)).scalars().all()
    if ids:
        bind.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")),
            [{"row_id": row_id, "generation": uuid.uuid4().hex} for row_id in ids],
        )
    # Left nullable in the schema, as 0006 leaves observation_hash: NOT NULL would make SQLite
    # rebuild the table, and dropping the old one would cascade. Every insert fills it (db/models.py).


def downgrade() -> None:
    """Drop rlem_namespaces.generation."""
    # In place (SQLite 3.35 and later): a batch rebuild would cascade to every state.
    op.execute("ALTER TABLE rlem_namespaces DROP COLUMN generation")
