"""Indexes for the workflow stage: the worker's claim in its exact order, and an author's recent posts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain index statements, not batch mode: a rebuilt mentions table would lose its full-text triggers.
    op.drop_index("ix_mentions_state_next_attempt_at", table_name="mentions")
    op.create_index("ix_mentions_state_next_attempt_at_id", "mentions", ["state", "next_attempt_at", "id"])
    op.drop_index("ix_mentions_author_id", table_name="mentions")
    op.create_index("ix_mentions_author_id_created_at", "mentions", ["author_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_mentions_author_id_created_at", table_name="mentions")
    op.create_index("ix_mentions_author_id", "mentions", ["author_id"])
    op.drop_index("ix_mentions_state_next_attempt_at_id", table_name="mentions")
    op.create_index("ix_mentions_state_next_attempt_at", "mentions", ["state", "next_attempt_at"])
