"""generated emails: client events, event kinds, rules, drafts, firm settings

Revision ID: 0012_generated_emails
Revises: 0011_inbox
Create Date: 2026-11-22 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = '0012_generated_emails'
down_revision: str | None = '0011_inbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('event_kinds',
    sa.Column('firm_id', BigId, nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('firm_id', 'name')
    )
    op.create_table('client_events',
    sa.Column('id', BigId, nullable=False),
    sa.Column('firm_id', BigId, nullable=False),
    sa.Column('client_account_id', BigId, nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_account_id'], ['client_accounts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_account_id', 'kind', 'on_date', 'reference', name='uq_client_events_same')
    )
    op.create_index('ix_client_events_firm_kind_date', 'client_events', ['firm_id', 'kind', 'on_date'])
    op.create_table('email_rules',
    sa.Column('id', BigId, nullable=False),
    sa.Column('firm_id', BigId, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('event_kind', sa.String(length=50), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('template_id', BigId, nullable=False),
    sa.Column('author_id', BigId, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_email_rules_firm_id', 'email_rules', ['firm_id'])
    op.create_table('generated_drafts',
    sa.Column('id', BigId, nullable=False),
    sa.Column('firm_id', BigId, nullable=False),
    sa.Column('rule_id', BigId, nullable=False),
    sa.Column('event_id', BigId, nullable=False),
    sa.Column('client_account_id', BigId, nullable=False),
    sa.Column('for_date', sa.Date(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('unknown', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('finished_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('sent_by', BigId, nullable=True),
    sa.Column('thread_id', BigId, nullable=True),
    sa.ForeignKeyConstraint(['client_account_id'], ['client_accounts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['client_events.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['email_rules.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sent_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rule_id', 'event_id', name='uq_generated_drafts_rule_event')
    )
    op.create_index('ix_generated_drafts_firm_state', 'generated_drafts', ['firm_id', 'state', 'rule_id'])
    op.create_table('generated_email_settings',
    sa.Column('firm_id', BigId, nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('run_hour', sa.Integer(), nullable=False),
    sa.Column('keep_days', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('firm_id')
    )


def downgrade() -> None:
    op.drop_table('generated_email_settings')
    op.drop_index('ix_generated_drafts_firm_state', table_name='generated_drafts')
    op.drop_table('generated_drafts')
    op.drop_index('ix_email_rules_firm_id', table_name='email_rules')
    op.drop_table('email_rules')
    op.drop_index('ix_client_events_firm_kind_date', table_name='client_events')
    op.drop_table('client_events')
    op.drop_table('event_kinds')
