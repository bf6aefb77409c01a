"""Initial schema: namespaces, experiences (states) and action values.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the three core tables."""
    op.create_table(
        "rlem_namespaces",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("embedding_model", sa.String(500), nullable=False),
        sa.Column("embedding_dim", sa.Integer, nullable=False),
        sa.Column("states_inserted", sa.BigInteger, nullable=False),
        sa.Column("states_deleted", sa.BigInteger, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "rlem_experiences",
        sa.Column("id", Id, primary_key=True),
        sa.Column(
            "namespace_id", Id, sa.ForeignKey("rlem_namespaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("observation", sa.Text, nullable=False),
        sa.Column("available_actions", sa.JSON, nullable=False),
        sa.Column("extra", sa.Text, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("last_reward", sa.Double, nullable=False),
        sa.Column("total_reward", sa.Double, nullable=False),
        sa.Column("action_history", sa.JSON, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.UniqueConstraint("namespace_id", "state_hash", name="uq_rlem_experiences_state"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_rlem_experiences_namespace_id", "rlem_experiences", ["namespace_id"])
    op.create_index("ix_rlem_experiences_lru", "rlem_experiences", ["namespace_id", "updated_at"])
    op.create_table(
        "rlem_action_values",
        sa.Column("id", Id, primary_key=True),
        sa.Column(
            "experience_id", Id, sa.ForeignKey("rlem_experiences.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("action_hash", sa.String(64), nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("q", sa.Double, nullable=False),
        sa.Column("reward", sa.Double, nullable=False),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.UniqueConstraint("experience_id", "action_hash", name="uq_rlem_action_values_action"),
    )
    op.create_index("ix_rlem_action_values_experience_id", "rlem_action_values", ["experience_id"])


def downgrade() -> None:
    """Drop the core tables."""
    op.drop_table("rlem_action_values")
    op.drop_table("rlem_experiences")
    op.drop_table("rlem_namespaces")
