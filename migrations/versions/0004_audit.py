"""The audit log: every change made by hand (edit, delete, prune, re-embed, copy), with old and new values.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add rlem_audit."""
    # Names, not foreign keys: an audit row must outlive the namespace or state it describes.
    op.create_table(
        "rlem_audit",
        sa.Column("id", Id, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("command", sa.String(50), nullable=False),
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("state_id", Id, nullable=True),
        sa.Column("action", sa.Text, nullable=True),
        sa.Column("what", sa.String(50), nullable=False),
        sa.Column("old_value", sa.JSON, nullable=True),
        sa.Column("new_value", sa.JSON, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_rlem_audit_namespace", "rlem_audit", ["namespace", "id"])


def downgrade() -> None:
    """Drop rlem_audit."""
    op.drop_table("rlem_audit")
