"""API keys of `rlem serve` (only their SHA-256 is stored), and the actor of each audit row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add rlem_api_keys and rlem_audit.actor."""
    op.create_table(
        "rlem_api_keys",
        sa.Column("id", Id, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )
    op.add_column("rlem_audit", sa.Column("actor", sa.String(200), nullable=True))


def downgrade() -> None:
    """Drop rlem_api_keys and rlem_audit.actor."""
    op.execute("ALTER TABLE rlem_audit DROP COLUMN actor")
    op.drop_table("rlem_api_keys")
