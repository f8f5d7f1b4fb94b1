"""staff inbox: thread state, labels, message options, acknowledgements, tasks, search

Revision ID: 0011_inbox
Revises: 0010_edit_history
Create Date: 2026-11-22 17:25:26.217543
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = '0011_inbox'
down_revision: str | None = '0010_edit_history'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('thread_labels',
    sa.Column('thread_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('thread_id', 'label')
    )
    op.create_table('message_acks',
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('acked_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', 'user_id')
    )
    op.create_table('tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('firm_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('thread_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('assignee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('done_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_assignee', ['assignee_id', 'done_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_thread_id'), ['thread_id'], unique=False)

    op.create_table('task_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('change', sa.JSON(), nullable=False),
    sa.Column('at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('task_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_changes_task_id'), ['task_id'], unique=False)

    op.add_column('events', sa.Column('private_to', sa.BigInteger(), nullable=True))
    op.add_column('events', sa.Column('private_from', sa.BigInteger(), nullable=True))
    op.add_column('events', sa.Column('managers_only', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.add_column('firms', sa.Column('clients_may_start_threads', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('firms', sa.Column('read_receipts_to_clients', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('firms', sa.Column('urgent_renotify_minutes', sa.Integer(), server_default='5', nullable=False))

    op.add_column('messages', sa.Column('urgent', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('messages', sa.Column('ack_requested', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('messages', sa.Column('renotify_at', storage.models.UTCDateTime(), nullable=True))
    op.add_column('messages', sa.Column('private_to', sa.BigInteger(), nullable=True))
    op.add_column('messages', sa.Column('cc', sa.JSON(), nullable=True))
    op.create_index('ix_messages_renotify_at', 'messages', ['renotify_at'], unique=False)

    op.add_column('threads', sa.Column('source', sa.String(length=16), server_default='portal', nullable=False))
    op.add_column('threads', sa.Column('state', sa.String(length=16), server_default='inbox', nullable=False))
    op.add_column('threads', sa.Column('assignee_id', sa.BigInteger(), nullable=True))
    op.add_column('threads', sa.Column('urgent', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('threads', sa.Column('follow_up_at', storage.models.UTCDateTime(), nullable=True))
    op.add_column('threads', sa.Column('snoozed', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('threads', sa.Column('follow_up_due', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_threads_assignee_id', 'threads', ['assignee_id'], unique=False)
    op.create_index('ix_threads_follow_up_at', 'threads', ['follow_up_at'], unique=False)
    _create_search_index()


def _create_search_index() -> None:
    """Full-text search over message bodies: FTS5 on SQLite, a GIN expression index on PostgreSQL."""
    if op.get_bind().dialect.name != 'sqlite':
        op.execute("CREATE INDEX ix_messages_body_search ON messages USING gin (to_tsvector('simple', body))")
        return
    op.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute("INSERT INTO messages_fts(rowid, body) SELECT id, body FROM messages")
    op.execute(
        "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
        "INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END"
    )
    op.execute(
        "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
        "INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body); END"
    )
    op.execute(
        "CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN "
        "INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body); "
        "INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END"
    )



def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for trigger in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER messages_fts_{trigger}')
        op.execute('DROP TABLE messages_fts')
    else:
        op.execute('DROP INDEX ix_messages_body_search')
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_threads_follow_up_at'))
        batch_op.drop_index(batch_op.f('ix_threads_assignee_id'))
        batch_op.drop_column('follow_up_due')
        batch_op.drop_column('snoozed')
        batch_op.drop_column('follow_up_at')
        batch_op.drop_column('urgent')
        batch_op.drop_column('assignee_id')
        batch_op.drop_column('state')
        batch_op.drop_column('source')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_renotify_at'))
        batch_op.drop_column('cc')
        batch_op.drop_column('private_to')
        batch_op.drop_column('renotify_at')
        batch_op.drop_column('ack_requested')
        batch_op.drop_column('urgent')

    with op.batch_alter_table('firms', schema=None) as batch_op:
        batch_op.drop_column('urgent_renotify_minutes')
        batch_op.drop_column('read_receipts_to_clients')
        batch_op.drop_column('clients_may_start_threads')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('managers_only')
        batch_op.drop_column('private_from')
        batch_op.drop_column('private_to')

    with op.batch_alter_table('task_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_changes_task_id'))

    op.drop_table('task_changes')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tasks_thread_id'))
        batch_op.drop_index('ix_tasks_assignee')

    op.drop_table('tasks')
    op.drop_table('message_acks')
    op.drop_table('thread_labels')
