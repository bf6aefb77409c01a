"""Write transactions are counted per namespace (in writer slots, rlem_namespace_changes), so that a
store's cached rows are used only while nothing has changed them (memory_store/record_cache.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add rlem_namespace_changes (no rows: a namespace's count starts at 0)."""
    op.create_table(
        "rlem_namespace_changes",
        sa.Column(
            "namespace_id",
            Id,
            sa.ForeignKey("rlem_namespaces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("slot", sa.Integer(), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Drop rlem_namespace_changes."""
    op.drop_table("rlem_namespace_changes")
