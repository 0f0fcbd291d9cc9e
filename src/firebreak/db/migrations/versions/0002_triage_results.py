"""Triage results: the latest verdict of each mention with the playbook and model versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 11:56:41
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "triage_results",
        sa.Column("mention_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("flag", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=48), nullable=False),
        sa.Column("category_group", sa.String(length=32), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("sentiment_score", sa.Double(), nullable=False),
        sa.Column("offensive", sa.Boolean(), nullable=False),
        sa.Column("offensive_score", sa.Double(), nullable=False),
        sa.Column("intent", sa.String(length=16), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("playbook_version", sa.String(length=80), nullable=False),
        sa.Column("model_version", sa.String(length=80), nullable=False),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("flag IN ('green', 'yellow', 'red')", name=op.f("ck_triage_results_flag")),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], name=op.f("fk_triage_results_mention_id_mentions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_triage_results_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mention_id", name=op.f("pk_triage_results")),
    )
    with op.batch_alter_table("triage_results", schema=None) as batch_op:
        batch_op.create_index("ix_triage_results_workspace_id_category", ["workspace_id", "category"], unique=False)
        batch_op.create_index("ix_triage_results_workspace_id_flag", ["workspace_id", "flag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("triage_results", schema=None) as batch_op:
        batch_op.drop_index("ix_triage_results_workspace_id_flag")
        batch_op.drop_index("ix_triage_results_workspace_id_category")
    op.drop_table("triage_results")
