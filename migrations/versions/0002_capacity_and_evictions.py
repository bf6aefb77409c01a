"""Namespace capacities (max states, max actions, eviction policy) and the eviction log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add capacity settings (unlimited for existing namespaces) and the eviction log table."""
    # Plain ADD/DROP COLUMN: SQLite does both natively, and a batch table copy would fire
    # ON DELETE CASCADE into the experiences when it drops the old namespaces table.
    op.add_column("rlem_namespaces", sa.Column("max_states", sa.Integer, nullable=True))
    op.add_column("rlem_namespaces", sa.Column("max_actions", sa.Integer, nullable=True))
    op.add_column(
        "rlem_namespaces",
        sa.Column("eviction_policy", sa.String(20), nullable=False, server_default="paper"),
    )
    op.create_table(
        "rlem_evictions",
        sa.Column("id", Id, primary_key=True),
        sa.Column(
            "namespace_id", Id, sa.ForeignKey("rlem_namespaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("observation", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rlem_evictions_namespace_id", "rlem_evictions", ["namespace_id"])


def downgrade() -> None:
    """Drop the eviction log and the capacity settings."""
    op.drop_table("rlem_evictions")
    op.drop_column("rlem_namespaces", "eviction_policy")
    op.drop_column("rlem_namespaces", "max_actions")
    op.drop_column("rlem_namespaces", "max_states")
