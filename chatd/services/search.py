"""Search: the query language (words, "phrases", operators, ``-`` to negate) and the service."""

from __future__ import annotations

import html
import re
import shlex
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from protocol.values import Folder
from storage import Database
from storage import directory as directory_store
from storage import search as search_store
from storage.directory import Account
from storage.search import HIT_END, HIT_START, SearchQuery

OPERATORS = ("from", "client", "before", "after", "on", "in", "has", "is")
_OPERATOR = re.compile(r"^(-?)(" + "|".join(OPERATORS) + r"):(.+)$", re.IGNORECASE)


@dataclass
class ParsedQuery:
    """A query string taken apart; names (``from:``, ``client:``) are resolved by the service."""

    query: SearchQuery = field(default_factory=SearchQuery)
    authors: list[tuple[str, bool]] = field(default_factory=list)
    clients: list[tuple[str, bool]] = field(default_factory=list)


def parse(text: str) -> ParsedQuery:
    """Words and quoted phrases are searched as text; ``op:value`` narrows; ``-`` negates either.

    Unbalanced quotes are read as if closed at the end: any input is a valid query."""
    parsed = ParsedQuery()
    q = parsed.query
    phrases: list[str] = []
    excluded: list[str] = []
    for token in _tokens(text):
        match = _OPERATOR.match(token)
        if match is None:
            negated = token.startswith("-") and len(token) > 1
            word = token[1:] if negated else token
            (excluded if negated else phrases).append(word)
            continue
        negated, name, value = match.group(1) == "-", match.group(2).lower(), match.group(3)
        q = _apply_operator(parsed, q, name, value, negated)
    parsed.query = replace(q, phrases=tuple(p for p in phrases if p.strip()), excluded_phrases=tuple(excluded))
    return parsed


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: close it at the end
        quote = "'" if text.count("'") % 2 else '"'
        return _tokens(text + quote) if text.count(quote) % 2 else text.split()


def _apply_operator(parsed: ParsedQuery, q: SearchQuery, name: str, value: str, negated: bool) -> SearchQuery:
    match name:
        case "from":
            parsed.authors.append((value, negated))
        case "client":
            parsed.clients.append((value, negated))
        case "before" | "after" | "on":
            day = _day(value, name)
            start = datetime.combine(day, time(), UTC)
            if name == "before":
                return replace(q, until=start)
            if name == "after":
                return replace(q, since=start + timedelta(days=1))
            return replace(q, since=start, until=start + timedelta(days=1))
        case "in":
            folder = _folder(value)
            if negated:
                return replace(q, excluded_folders=(*q.excluded_folders, folder))
            return replace(q, folders=(*q.folders, folder))
        case "has":
            if value.lower() not in ("attachment", "attachments"):
                raise errors.BadRequest(f"has:{value} is not known; has:attachment is")
            return replace(q, has_attachment=not negated)
        case "is":
            if value.lower() not in ("unread", "read"):
                raise errors.BadRequest(f"is:{value} is not known; is:unread and is:read are")
            return replace(q, unread=(value.lower() == "unread") != negated)
    return q


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise errors.BadRequest(f"{name}: needs a date like 2026-03-31, not {value!r}") from None


def _folder(value: str) -> Folder:
    try:
        return Folder(value.lower().replace("-", "_"))
    except ValueError:
        names = ", ".join(f.value for f in Folder)
        raise errors.BadRequest(f"in:{value} is not a folder; folders are {names}") from None


def highlight(snippet: str) -> str:
    """Escape the snippet for HTML, then turn the hit markers into <mark> elements."""
    escaped = html.escape(snippet.replace("<mark>", "").replace("</mark>", ""), quote=False)
    return escaped.replace(HIT_START, "<mark>").replace(HIT_END, "</mark>")


class Search:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def search(
        self, account: Account, *, text: str, narrow: SearchQuery, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        """Search the whole history of what the caller may see; ``narrow`` adds structured filters."""
        offset = _offset(cursor)
        parsed = parse(text)
        async with self._db.read() as conn:
            query = await self._resolve(conn, account, parsed, narrow)
            if account.user.role.is_client and (query.folders or query.excluded_folders):
                raise errors.BadRequest("folders are the staff inbox's")
            if not _narrows(query):
                raise errors.BadRequest("give words to look for, or a filter")
            hits, more = await search_store.search(conn, account.viewer, query, offset=offset, limit=limit)
        results = [
            {
                "message": (
                    hit.message.for_author() if hit.message.value.author_id == account.user.id else hit.message.value
                ),
                "thread_id": hit.message.value.thread_id,
                "subject": hit.subject,
                "snippet": highlight(hit.snippet),
                "rank": hit.rank,
            }
            for hit in hits
        ]
        return {"results": results, "cursor": str(offset + limit) if more else None}

    async def _resolve(
        self, conn: AsyncConnection, account: Account, parsed: ParsedQuery, narrow: SearchQuery
    ) -> SearchQuery:
        """Names in ``from:`` and ``client:`` become ids (a name matching no one matches nothing)."""
        q = _merge(parsed.query, narrow)
        firm_id = account.user.firm_id
        for name, negated in parsed.authors:
            ids = tuple(await directory_store.find_user_ids(conn, firm_id, name)) or (0,)
            if negated:
                q = replace(q, excluded_author_ids=(*q.excluded_author_ids, *ids))
            else:
                q = replace(q, author_ids=(*q.author_ids, *ids))
        for name, negated in parsed.clients:
            ids = tuple(await directory_store.find_client_account_ids(conn, firm_id, name)) or (0,)
            if negated:
                q = replace(q, excluded_client_account_ids=(*q.excluded_client_account_ids, *ids))
            else:
                q = replace(q, client_account_ids=(*q.client_account_ids, *ids))
        return q


def _merge(parsed: SearchQuery, narrow: SearchQuery) -> SearchQuery:
    return replace(
        parsed,
        author_ids=(*parsed.author_ids, *narrow.author_ids),
        client_account_ids=(*parsed.client_account_ids, *narrow.client_account_ids),
        subject=narrow.subject or parsed.subject,
        since=narrow.since or parsed.since,
        until=narrow.until or parsed.until,
        folders=(*parsed.folders, *narrow.folders),
        has_attachment=narrow.has_attachment if narrow.has_attachment is not None else parsed.has_attachment,
        unread=narrow.unread if narrow.unread is not None else parsed.unread,
    )


def _narrows(q: SearchQuery) -> bool:
    """Whether the query says anything: a bare search would list every message."""
    return bool(
        q.phrases
        or q.excluded_phrases
        or q.author_ids
        or q.client_account_ids
        or q.subject
        or q.since
        or q.until
        or q.folders
        or q.unread is not None
        or q.has_attachment is not None
    )


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or int(cursor) > 100_000:
        raise errors.BadRequest("cursor is not one this server gave")
    return int(cursor)
