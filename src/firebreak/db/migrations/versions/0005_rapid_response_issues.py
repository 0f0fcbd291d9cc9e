"""Rapid-response issues: issues, stakeholders, stages, linked mentions, tasks, drafts, reviews,
publications, the timeline and lessons; the social outbox; SLA clocks that time issues too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 14:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OLD_METRICS = "metric IN ('first_response', 'next_response', 'resolution')"
NEW_METRICS = "metric IN ('first_response', 'next_response', 'resolution', 'stage', 'legal_review')"


def upgrade() -> None:
    op.create_table('issues',
    sa.Column('id', BigId, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('severity', sa.String(length=12), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('stage', sa.String(length=48), nullable=False),
    sa.Column('stage_entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('owner_id', BigId, nullable=True),
    sa.Column('decision', sa.String(length=12), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('link_rules', JsonDoc, nullable=False),
    sa.Column('opened_from', sa.String(length=24), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('playbook_version', sa.String(length=80), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("decision IS NULL OR decision IN ('one_off', 'systemic')", name=op.f('ck_issues_decision')),
    sa.CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name=op.f('ck_issues_severity')),
    sa.CheckConstraint("state IN ('open', 'closed')", name=op.f('ck_issues_state')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_issues_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issues_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issues')),
    sa.UniqueConstraint('workspace_id', 'number', name=op.f('uq_issues_workspace_id_number'))
    )
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issues_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_issues_workspace_id_state_stage', ['workspace_id', 'state', 'stage'], unique=False)

    op.create_table('issue_drafts',
    sa.Column('id', BigId, nullable=False),
    sa.Column('issue_id', BigId, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('audience', sa.String(length=48), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("kind IN ('acknowledgement', 'confirmation', 'response', 'faq', 'talking_points')", name=op.f('ck_issue_drafts_kind')),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_drafts_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_drafts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_drafts'))
    )
    with op.batch_alter_table('issue_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_drafts_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_drafts_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('issue_events',
    sa.Column('id', BigId, nullable=False),
    sa.Column('issue_id', BigId, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_events_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_events_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_events'))
    )
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.create_index('ix_issue_events_issue_id_id', ['issue_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_events_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('issue_lessons',
    sa.Column('id', BigId, nullable=False),
    sa.Column('issue_id', BigId, nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('proposed_change', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_lessons_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_lessons_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_lessons'))
    )
    with op.batch_alter_table('issue_lessons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_lessons_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_lessons_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('issue_stages',
    sa.Column('id', BigId, nullable=False),
    sa.Column('issue_id', BigId, nullable=False),
    sa.Column('stage', sa.String(length=48), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('goal', sa.String(length=24), nullable=True),
    sa.Column('calendar', sa.String(length=48), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.Column('left_by', sa.String(length=200), nullable=True),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_stages_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_stages_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_stages'))
    )
    with op.batch_alter_table('issue_stages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_stages_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_stages_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('issue_stakeholders',
    sa.Column('id', BigId, nullable=False),
    sa.Column('issue_id', BigId, nullable=False),
    sa.Column('user_id', BigId, nullable=False),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("role IN ('owner', 'communications', 'legal', 'product', 'support', 'executive_sponsor')", name=op.f('ck_issue_stakeholders_role')),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_stakeholders_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_issue_stakeholders_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_stakeholders_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_stakeholders')),
    sa.UniqueConstraint('issue_id', 'user_id', 'role', name=op.f('uq_issue_stakeholders_issue_id_user_id_role'))
    )
    with op.batch_alter_table('issue_stakeholders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_stakeholders_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_stakeholders_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('issue_tasks',
    sa.Column('id', BigId, nullable=False),
    sa.Column('issue_id', BigId, nullable=False),
    sa.Column('stage', sa.String(length=48), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('from_playbook', sa.Boolean(), nullable=False),
    sa.Column('owner_id', BigId, nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_tasks_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_issue_tasks_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_tasks_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_tasks'))
    )
    with op.batch_alter_table('issue_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_tasks_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_tasks_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('outbox_messages',
    sa.Column('id', BigId, nullable=False),
    sa.Column('channel_id', BigId, nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.Text(), nullable=True),
    sa.Column('in_reply_to', sa.String(length=300), nullable=True),
    sa.Column('conversation_id', sa.String(length=300), nullable=True),
    sa.Column('issue_id', BigId, nullable=True),
    sa.Column('payload', JsonDoc, nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('remote_id', sa.String(length=300), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("kind IN ('post', 'reply')", name=op.f('ck_outbox_messages_kind')),
    sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'cancelled')", name=op.f('ck_outbox_messages_state')),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_outbox_messages_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_outbox_messages_issue_id_issues'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_outbox_messages_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('workspace_id', 'idempotency_key', name=op.f('uq_outbox_messages_workspace_id_idempotency_key'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_channel_id_next_attempt_at', ['channel_id', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_messages_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index('ix_outbox_messages_state_next_attempt_at', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_messages_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('issue_draft_versions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('draft_id', BigId, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('source_statement', sa.String(length=48), nullable=True),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("state IN ('draft', 'in_review', 'changes_requested', 'approved', 'superseded')", name=op.f('ck_issue_draft_versions_state')),
    sa.ForeignKeyConstraint(['draft_id'], ['issue_drafts.id'], name=op.f('fk_issue_draft_versions_draft_id_issue_drafts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_draft_versions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_draft_versions')),
    sa.UniqueConstraint('draft_id', 'number', name=op.f('uq_issue_draft_versions_draft_id_number'))
    )
    with op.batch_alter_table('issue_draft_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_draft_versions_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('issue_mentions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('issue_id', BigId, nullable=False),
    sa.Column('mention_id', BigId, nullable=False),
    sa.Column('channel_id', BigId, nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('conversation_id', sa.String(length=300), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('linked_by', sa.String(length=200), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_issue_mentions_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_mentions_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], name=op.f('fk_issue_mentions_mention_id_mentions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_mentions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_mentions')),
    sa.UniqueConstraint('issue_id', 'mention_id', name=op.f('uq_issue_mentions_issue_id_mention_id'))
    )
    with op.batch_alter_table('issue_mentions', schema=None) as batch_op:
        batch_op.create_index('ix_issue_mentions_issue_id_posted_at', ['issue_id', 'posted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_mentions_mention_id'), ['mention_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_mentions_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('issue_draft_reviews',
    sa.Column('id', BigId, nullable=False),
    sa.Column('version_id', BigId, nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('reviewer_role', sa.String(length=24), nullable=True),
    sa.Column('verdict', sa.String(length=20), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("verdict IS NULL OR verdict IN ('approved', 'changes_requested')", name=op.f('ck_issue_draft_reviews_verdict')),
    sa.ForeignKeyConstraint(['version_id'], ['issue_draft_versions.id'], name=op.f('fk_issue_draft_reviews_version_id_issue_draft_versions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_issue_draft_reviews_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_draft_reviews'))
    )
    with op.batch_alter_table('issue_draft_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_draft_reviews_version_id'), ['version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issue_draft_reviews_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('publications',
    sa.Column('id', BigId, nullable=False),
    sa.Column('issue_id', BigId, nullable=False),
    sa.Column('version_id', BigId, nullable=False),
    sa.Column('slug', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_publications_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['issue_draft_versions.id'], name=op.f('fk_publications_version_id_issue_draft_versions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_publications_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publications')),
    sa.UniqueConstraint('workspace_id', 'slug', name=op.f('uq_publications_workspace_id_slug'))
    )
    with op.batch_alter_table('publications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_publications_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_publications_workspace_id'), ['workspace_id'], unique=False)

    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issue_id', BigId, nullable=True))
        batch_op.add_column(sa.Column('reference_id', BigId, nullable=True))
        batch_op.alter_column('mention_id',
               existing_type=BigId,
               nullable=True)
        batch_op.create_index(batch_op.f('ix_sla_clocks_issue_id'), ['issue_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_sla_clocks_issue_id_issues'), 'issues', ['issue_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_constraint(batch_op.f('ck_sla_clocks_metric'), type_='check')
        batch_op.create_check_constraint('metric', NEW_METRICS)
        batch_op.create_check_constraint('one_subject', '(mention_id IS NULL) <> (issue_id IS NULL)')

    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issue_id', BigId, nullable=True))
        batch_op.alter_column('mention_id',
               existing_type=BigId,
               nullable=True)
        batch_op.create_index(batch_op.f('ix_sla_events_issue_id'), ['issue_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_sla_events_issue_id_issues'), 'issues', ['issue_id'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sla_events_issue_id_issues'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_sla_events_issue_id'))
        batch_op.alter_column('mention_id',
               existing_type=BigId,
               nullable=False)
        batch_op.drop_column('issue_id')

    op.execute("DELETE FROM sla_clocks WHERE issue_id IS NOT NULL")
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_sla_clocks_one_subject'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_sla_clocks_metric'), type_='check')
        batch_op.create_check_constraint('metric', OLD_METRICS)
        batch_op.drop_constraint(batch_op.f('fk_sla_clocks_issue_id_issues'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_sla_clocks_issue_id'))
        batch_op.alter_column('mention_id',
               existing_type=BigId,
               nullable=False)
        batch_op.drop_column('reference_id')
        batch_op.drop_column('issue_id')

    with op.batch_alter_table('publications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_publications_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_publications_issue_id'))

    op.drop_table('publications')
    with op.batch_alter_table('issue_draft_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_draft_reviews_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_issue_draft_reviews_version_id'))

    op.drop_table('issue_draft_reviews')
    with op.batch_alter_table('issue_mentions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_mentions_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_issue_mentions_mention_id'))
        batch_op.drop_index('ix_issue_mentions_issue_id_posted_at')

    op.drop_table('issue_mentions')
    with op.batch_alter_table('issue_draft_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_draft_versions_workspace_id'))

    op.drop_table('issue_draft_versions')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_workspace_id'))
        batch_op.drop_index('ix_outbox_messages_state_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_issue_id'))
        batch_op.drop_index('ix_outbox_messages_channel_id_next_attempt_at')

    op.drop_table('outbox_messages')
    with op.batch_alter_table('issue_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_tasks_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_issue_tasks_issue_id'))

    op.drop_table('issue_tasks')
    with op.batch_alter_table('issue_stakeholders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_stakeholders_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_issue_stakeholders_issue_id'))

    op.drop_table('issue_stakeholders')
    with op.batch_alter_table('issue_stages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_stages_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_issue_stages_issue_id'))

    op.drop_table('issue_stages')
    with op.batch_alter_table('issue_lessons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_lessons_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_issue_lessons_issue_id'))

    op.drop_table('issue_lessons')
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_events_workspace_id'))
        batch_op.drop_index('ix_issue_events_issue_id_id')

    op.drop_table('issue_events')
    with op.batch_alter_table('issue_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_drafts_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_issue_drafts_issue_id'))

    op.drop_table('issue_drafts')
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_index('ix_issues_workspace_id_state_stage')
        batch_op.drop_index(batch_op.f('ix_issues_workspace_id'))

    op.drop_table('issues')
