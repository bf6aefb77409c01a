"""Namespaces say what they embed to find similar states: task and observation, or the observation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add rlem_namespaces.retrieval_text; existing namespaces embedded both texts."""
    with op.batch_alter_table("rlem_namespaces") as batch:
        batch.add_column(
            sa.Column("retrieval_text", sa.String(20), nullable=False, server_default="task+observation")
        )


def downgrade() -> None:
    """Drop rlem_namespaces.retrieval_text."""
    with op.batch_alter_table("rlem_namespaces") as batch:
        batch.drop_column("retrieval_text")
