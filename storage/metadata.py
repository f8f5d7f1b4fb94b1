"""Every table chatd keeps, in one ``MetaData``: what Alembic compares the database with when it
autogenerates a revision (tests/test_migrations.py checks the migrations build exactly this)."""

from __future__ import annotations

from sqlalchemy import MetaData

from storage import (  # noqa: F401 (imported for their tables)
    attachment_models,
    automation_models,
    bulk_models,
    draft_models,
    edit_models,
    genmail_models,
    push_models,
    recurring_models,
    reminder_models,
    signature_models,
    template_models,
)
from storage.models import Base

metadata: MetaData = Base.metadata


# The full-text search index, made by hand (0011_inbox): on PostgreSQL a GIN index on an expression,
# on SQLite a virtual table with its shadow tables (and triggers, which Alembic does not compare).
SEARCH_INDEX = "ix_messages_body_search"
SEARCH_TABLES = "messages_fts"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether Alembic compares an object: not the hand-made full-text index."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(SEARCH_TABLES)
    return not (type_ == "index" and name == SEARCH_INDEX)
