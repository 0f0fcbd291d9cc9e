"""The outbox carries moderations too: hide, delete or report a post as spam, for the channel's connector.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode rebuilds the table on SQLite, which cannot alter a CHECK constraint in place.
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_kind"), type_="check")
        batch_op.create_check_constraint("kind", "kind IN ('post', 'reply', 'moderate')")


def downgrade() -> None:
    op.execute("DELETE FROM outbox_messages WHERE kind = 'moderate'")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_kind"), type_="check")
        batch_op.create_check_constraint("kind", "kind IN ('post', 'reply')")
