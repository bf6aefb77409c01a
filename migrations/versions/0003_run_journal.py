"""The run journal: which training episodes of a run have their memory updates committed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add rlem_run_episodes."""
    op.create_table(
        "rlem_run_episodes",
        sa.Column("id", Id, primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("episode", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "episode", name="uq_rlem_run_episodes"),
    )


def downgrade() -> None:
    """Drop rlem_run_episodes."""
    op.drop_table("rlem_run_episodes")
