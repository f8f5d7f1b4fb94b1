"""Full-text search over the messages a viewer may see: SQLite FTS5, or PostgreSQL's own engine.

Words and phrases are always matched as text: each is quoted for FTS5 and handed to PostgreSQL's
``phraseto_tsquery``, so query syntax characters (``"``, ``*``, ``NEAR``, ``AND``) search for
themselves instead of breaking the query. Snippets mark hits with two private-use characters,
HIT_START and HIT_END, which the caller turns into markup after escaping the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, column, func, literal, literal_column, not_, or_, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Folder
from storage.folders import folder_filter
from storage.messages import COLUMNS, StoredMessage, stored_message
from storage.models import Message, Participant, Thread
from storage.viewer import Viewer, message_visible, thread_visible

HIT_START = "\ue000"
HIT_END = "\ue001"
_FTS = table("messages_fts", column("rowid"), column("body"))
_TS_CONFIG = "simple"


@dataclass(frozen=True)
class SearchQuery:
    """What to look for; every part is optional and all of them must hold."""

    phrases: tuple[str, ...] = ()
    excluded_phrases: tuple[str, ...] = ()
    author_ids: tuple[int, ...] = ()
    excluded_author_ids: tuple[int, ...] = ()
    client_account_ids: tuple[int, ...] = ()
    excluded_client_account_ids: tuple[int, ...] = ()
    subject: str | None = None
    # Messages created at or after ``since`` and before ``until``.
    since: datetime | None = None
    until: datetime | None = None
    folders: tuple[Folder, ...] = ()
    excluded_folders: tuple[Folder, ...] = ()
    has_attachment: bool | None = None
    unread: bool | None = None
    thread_ids: tuple[int, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Hit:
    message: StoredMessage
    subject: str
    snippet: str
    rank: float


async def search(
    conn: AsyncConnection, viewer: Viewer, query: SearchQuery, *, offset: int, limit: int
) -> tuple[list[Hit], bool]:
    """A page of hits, best first (newest first when there are no words), and whether more follow."""
    postgres = conn.dialect.name == "postgresql"
    conditions = _filters(viewer, query, postgres)
    if query.phrases:
        rank, snippet, match = _pg_match(query.phrases) if postgres else _sqlite_match(query.phrases)
        conditions.append(match)
        order: list[Any] = [rank.desc() if postgres else rank.asc(), Message.id.desc()]
    else:
        rank, snippet = literal(0.0), func.substr(Message.body, 1, 200)
        order = [Message.id.desc()]
    statement = (
        select(*COLUMNS, Thread.subject, rank.label("rank"), snippet.label("snippet"))
        .join(Thread, Thread.id == Message.thread_id)
        .where(*conditions)
        .order_by(*order)
        .offset(offset)
        .limit(limit + 1)
    )
    if query.phrases and not postgres:
        statement = statement.join(_FTS, _FTS.c.rowid == Message.id)
    rows = list(await conn.execute(statement))
    hits = [
        Hit(message=stored_message(row), subject=row.subject, snippet=row.snippet or "", rank=float(row.rank))
        for row in rows[:limit]
    ]
    return hits, len(rows) > limit


def _filters(viewer: Viewer, query: SearchQuery, postgres: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        thread_visible(viewer),
        message_visible(viewer),
        Message.deleted_at.is_(None),
    ]
    for phrase in query.excluded_phrases:
        conditions.append(not_(_pg_contains(phrase)) if postgres else Message.id.not_in(_sqlite_ids(phrase)))
    if query.author_ids:
        conditions.append(Message.author_id.in_(query.author_ids))
    if query.excluded_author_ids:
        conditions.append(Message.author_id.not_in(query.excluded_author_ids))
    if query.client_account_ids:
        conditions.append(Thread.client_account_id.in_(query.client_account_ids))
    if query.excluded_client_account_ids:
        conditions.append(
            or_(Thread.client_account_id.is_(None), Thread.client_account_id.not_in(query.excluded_client_account_ids))
        )
    if query.subject:
        conditions.append(func.lower(Thread.subject).contains(query.subject.lower(), autoescape=True))
    if query.since is not None:
        conditions.append(Message.created_at >= query.since)
    if query.until is not None:
        conditions.append(Message.created_at < query.until)
    for folder in query.folders:
        condition = folder_filter(viewer, folder)
        if condition is not None:
            conditions.append(condition)
    for folder in query.excluded_folders:
        condition = folder_filter(viewer, folder)
        if condition is not None:
            conditions.append(not_(condition))
    if query.has_attachment is not None:
        # The message row keeps its attachments as JSON, NULL when it has none.
        has = Message.attachments.is_not(None)
        conditions.append(has if query.has_attachment else not_(has))
    if query.unread is not None:
        last_read = (
            select(Participant.last_read_message_id)
            .where(Participant.thread_id == Message.thread_id, Participant.user_id == viewer.user_id)
            .scalar_subquery()
        )
        unread = and_(Message.id > func.coalesce(last_read, 0), Message.author_id != viewer.user_id)
        conditions.append(unread if query.unread else not_(unread))
    if query.thread_ids:
        conditions.append(Message.thread_id.in_(query.thread_ids))
    return conditions


def _fts_phrase(phrase: str) -> str:
    return '"' + phrase.replace('"', '""') + '"'


def _sqlite_match(phrases: tuple[str, ...]) -> tuple[Any, Any, ColumnElement[bool]]:
    expression = " ".join(_fts_phrase(p) for p in phrases)
    match = literal_column("messages_fts").op("MATCH")(expression)
    snippet = func.snippet(literal_column("messages_fts"), 0, HIT_START, HIT_END, "…", 16)
    return literal_column("messages_fts.rank"), snippet, match


def _sqlite_ids(phrase: str) -> Any:
    return select(_FTS.c.rowid).where(literal_column("messages_fts").op("MATCH")(_fts_phrase(phrase)))


def _tsquery(phrases: tuple[str, ...]) -> Any:
    queries = [func.phraseto_tsquery(_TS_CONFIG, phrase) for phrase in phrases]
    combined: Any = queries[0]
    for query in queries[1:]:
        combined = combined.op("&&")(query)
    return combined


def _vector() -> Any:
    return func.to_tsvector(_TS_CONFIG, Message.body)


def _pg_contains(phrase: str) -> ColumnElement[bool]:
    contains: ColumnElement[bool] = _vector().op("@@")(_tsquery((phrase,)))
    return contains


def _pg_match(phrases: tuple[str, ...]) -> tuple[Any, Any, ColumnElement[bool]]:
    query = _tsquery(phrases)
    rank = func.ts_rank(_vector(), query)
    options = f"StartSel={HIT_START}, StopSel={HIT_END}, MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter= … "
    snippet = func.ts_headline(_TS_CONFIG, Message.body, query, options)
    return rank, snippet, _vector().op("@@")(query)
