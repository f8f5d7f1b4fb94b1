"""templates and quick replies, default templates, clients' custom fields

Revision ID: 0007_templates
Revises: 0006_scheduler
Create Date: 2026-11-22 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0007_templates"
down_revision: str | None = "0006_scheduler"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", BigId, nullable=False),
        sa.Column("firm_id", BigId, nullable=False),
        sa.Column("owner_id", BigId, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("shortcut", sa.String(length=50), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["firm_id"], ["firms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_templates_firm_owner", "templates", ["firm_id", "owner_id"], unique=False)
    op.create_table(
        "template_defaults",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("template_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("client_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("custom_fields", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client_accounts", schema=None) as batch_op:
        batch_op.drop_column("custom_fields")
    op.drop_table("template_defaults")
    op.drop_index("ix_templates_firm_owner", table_name="templates")
    op.drop_table("templates")
