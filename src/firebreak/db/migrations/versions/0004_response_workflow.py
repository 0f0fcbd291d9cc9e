"""Response workflow: users, roles and teams, per-workspace playbook versions, work items and SLA clocks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 13:11:48
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', BigId, nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('memberships',
    sa.Column('id', BigId, nullable=False),
    sa.Column('user_id', BigId, nullable=False),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("role IN ('agent', 'lead', 'communications', 'legal', 'executive', 'admin')", name=op.f('ck_memberships_role')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_memberships_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('workspace_id', 'user_id', 'role', name=op.f('uq_memberships_workspace_id_user_id_role'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_memberships_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('playbook_versions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('version', sa.String(length=80), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_by_user_id', BigId, nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_playbook_versions_created_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_playbook_versions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_playbook_versions'))
    )
    with op.batch_alter_table('playbook_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_playbook_versions_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_playbook_versions_workspace_id_active', ['workspace_id', 'active'], unique=False)

    op.create_table('team_members',
    sa.Column('id', BigId, nullable=False),
    sa.Column('team', sa.String(length=48), nullable=False),
    sa.Column('user_id', BigId, nullable=False),
    sa.Column('is_lead', sa.Boolean(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_members_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_team_members_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_members')),
    sa.UniqueConstraint('workspace_id', 'team', 'user_id', name=op.f('uq_team_members_workspace_id_team_user_id'))
    )
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_members_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_team_members_workspace_id_user_id', ['workspace_id', 'user_id'], unique=False)

    op.create_table('sla_clocks',
    sa.Column('id', BigId, nullable=False),
    sa.Column('mention_id', BigId, nullable=False),
    sa.Column('metric', sa.String(length=16), nullable=False),
    sa.Column('policy', sa.String(length=48), nullable=False),
    sa.Column('calendar', sa.String(length=48), nullable=False),
    sa.Column('target_seconds', sa.Double(), nullable=False),
    sa.Column('warn_fraction', sa.Double(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('segment_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consumed_seconds', sa.Double(), nullable=False),
    sa.Column('warn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('breached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_fire_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_event', sa.String(length=24), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("metric IN ('first_response', 'next_response', 'resolution')", name=op.f('ck_sla_clocks_metric')),
    sa.CheckConstraint("state IN ('running', 'paused', 'met', 'cancelled')", name=op.f('ck_sla_clocks_state')),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], name=op.f('fk_sla_clocks_mention_id_mentions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sla_clocks_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clocks')),
    sa.UniqueConstraint('mention_id', 'metric', name=op.f('uq_sla_clocks_mention_id_metric'))
    )
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.create_index('ix_sla_clocks_next_fire_at', ['next_fire_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_clocks_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_sla_clocks_workspace_id_state_due_at', ['workspace_id', 'state', 'due_at'], unique=False)

    op.create_table('work_items',
    sa.Column('mention_id', BigId, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('queue', sa.String(length=48), nullable=False),
    sa.Column('team', sa.String(length=48), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('route_rule', sa.String(length=48), nullable=False),
    sa.Column('assignee_id', BigId, nullable=True),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('outcome', sa.String(length=48), nullable=False),
    sa.Column('needs_response', sa.Boolean(), nullable=False),
    sa.Column('assessment', JsonDoc, nullable=False),
    sa.Column('sla_policy', sa.String(length=48), nullable=True),
    sa.Column('sla_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('playbook_version', sa.String(length=80), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.CheckConstraint("state IN ('new', 'assigned', 'responded', 'waiting', 'resolved', 'closed')", name=op.f('ck_work_items_state')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_work_items_assignee_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], name=op.f('fk_work_items_mention_id_mentions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_work_items_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mention_id', name=op.f('pk_work_items'))
    )
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_items_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('ix_work_items_workspace_id_assignee_id_state', ['workspace_id', 'assignee_id', 'state'], unique=False)
        batch_op.create_index('ix_work_items_workspace_id_queue_state', ['workspace_id', 'queue', 'state'], unique=False)
        batch_op.create_index('ix_work_items_workspace_id_state_opened_at', ['workspace_id', 'state', 'opened_at'], unique=False)
        batch_op.create_index('ix_work_items_workspace_id_state_sla_due_at', ['workspace_id', 'state', 'sla_due_at'], unique=False)

    op.create_table('sla_events',
    sa.Column('id', BigId, nullable=False),
    sa.Column('clock_id', BigId, nullable=False),
    sa.Column('mention_id', BigId, nullable=False),
    sa.Column('event', sa.String(length=24), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('workspace_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['clock_id'], ['sla_clocks.id'], name=op.f('fk_sla_events_clock_id_sla_clocks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mention_id'], ['mentions.id'], name=op.f('fk_sla_events_mention_id_mentions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sla_events_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_events')),
    sa.UniqueConstraint('clock_id', 'event', name=op.f('uq_sla_events_clock_id_event'))
    )
    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_events_mention_id'), ['mention_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_events_workspace_id'), ['workspace_id'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', BigId, nullable=True))
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_user_id_users'), 'users', ['user_id'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))
        batch_op.drop_column('user_id')

    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_events_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_sla_events_mention_id'))

    op.drop_table('sla_events')
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.drop_index('ix_work_items_workspace_id_state_sla_due_at')
        batch_op.drop_index('ix_work_items_workspace_id_state_opened_at')
        batch_op.drop_index('ix_work_items_workspace_id_queue_state')
        batch_op.drop_index('ix_work_items_workspace_id_assignee_id_state')
        batch_op.drop_index(batch_op.f('ix_work_items_workspace_id'))

    op.drop_table('work_items')
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_clocks_workspace_id_state_due_at')
        batch_op.drop_index(batch_op.f('ix_sla_clocks_workspace_id'))
        batch_op.drop_index('ix_sla_clocks_next_fire_at')

    op.drop_table('sla_clocks')
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_index('ix_team_members_workspace_id_user_id')
        batch_op.drop_index(batch_op.f('ix_team_members_workspace_id'))

    op.drop_table('team_members')
    with op.batch_alter_table('playbook_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_playbook_versions_workspace_id_active')
        batch_op.drop_index(batch_op.f('ix_playbook_versions_workspace_id'))

    op.drop_table('playbook_versions')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))

    op.drop_table('memberships')
    op.drop_table('users')
