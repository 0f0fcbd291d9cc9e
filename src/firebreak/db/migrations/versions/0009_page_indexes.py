"""Indexes for the pages at a million mentions: the live inbox's change feed, and issue clocks.

Each open inbox polls once a second for work changed since its mark; without the first index that poll
sorts the workspace's work items (about a second on SQLite with a million mentions, 0.4 ms with it).
Almost every SLA clock belongs to a mention, so SQLite's planner judges `issue_id IN (...)` unselective
and scans every clock for the issue board; a partial index over issue clocks only is small and chosen.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_work_items_workspace_id_updated_at_mention_id", "work_items",
                    ["workspace_id", "updated_at", "mention_id"])
    op.create_index("ix_sla_clocks_issue_clocks", "sla_clocks", ["issue_id"],
                    sqlite_where=sa.text("issue_id IS NOT NULL"), postgresql_where=sa.text("issue_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_sla_clocks_issue_clocks", table_name="sla_clocks")
    op.drop_index("ix_work_items_workspace_id_updated_at_mention_id", table_name="work_items")
