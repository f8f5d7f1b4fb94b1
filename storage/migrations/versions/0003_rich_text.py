"""message bodies rendered: html and video embeds

Revision ID: 0003_rich_text
Revises: 0002_bots
Create Date: 2026-11-22 17:40:00
"""

import html
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_rich_text"
down_revision: str | None = "0002_bots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("embeds", sa.Text(), nullable=True))
    # Messages written before rendering existed show as escaped plain text.
    messages = sa.table(
        "messages", sa.column("id", sa.Integer()), sa.column("body", sa.Text()), sa.column("html", sa.Text())
    )
    conn = op.get_bind()
    for row in conn.execute(sa.select(messages.c.id, messages.c.body).where(messages.c.body != "")).all():
        rendered = "<p>" + html.escape(row.body).replace("\n", "<br>\n") + "</p>\n"
        conn.execute(messages.update().where(messages.c.id == row.id).values(html=rendered))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("embeds")
        batch_op.drop_column("html")
