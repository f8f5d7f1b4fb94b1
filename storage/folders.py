"""The staff inbox's folders as SQL: which threads each holds, and how many.

Inbox, Follow-up, Archived, Trash and Spam split the threads a staff member sees (a thread is in
exactly one of them); Unread, Assigned to me and Urgent are views over the threads that are in
none of Trash or Spam. The state is shared by the firm's staff; unread and "assigned to me" are
the viewer's own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, and_, case, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Folder, Source, ThreadState
from storage.models import Message, Participant, Thread
from storage.viewer import Viewer, message_visible, thread_visible

STAFF_FOLDERS = tuple(f for f in Folder if f is not Folder.ALL)


def unread_count(viewer: Viewer) -> ScalarSelect[int]:
    """Messages of the enclosing query's thread the viewer may see, did not write, and has not read."""
    # Correlated through the message's thread: naming Thread here would not correlate two levels up.
    last_read = (
        select(Participant.last_read_message_id)
        .where(Participant.thread_id == Message.thread_id, Participant.user_id == viewer.user_id)
        .scalar_subquery()
    )
    return (
        select(func.count(Message.id))
        .where(
            Message.thread_id == Thread.id,
            Message.id > func.coalesce(last_read, 0),
            Message.author_id != viewer.user_id,
            Message.deleted_at.is_(None),
            message_visible(viewer),
        )
        .scalar_subquery()
    )


def _conditions(c: Any, unread: ColumnElement[int], user_id: int) -> dict[Folder, ColumnElement[bool]]:
    """Each staff folder as a condition on thread columns ``c`` (the table's, or a subquery's)."""
    live = c.state.not_in((ThreadState.TRASH.value, ThreadState.SPAM.value))
    waiting = or_(c.follow_up_at.is_not(None), c.snoozed.is_(True))
    return {
        Folder.INBOX: and_(c.state == ThreadState.INBOX.value, not_(waiting)),
        Folder.UNREAD: and_(live, unread > 0),
        Folder.FOLLOW_UP: and_(c.state == ThreadState.INBOX.value, waiting),
        Folder.ASSIGNED: and_(live, c.assignee_id == user_id),
        Folder.URGENT: and_(live, c.urgent.is_(True)),
        Folder.ARCHIVED: c.state == ThreadState.ARCHIVED.value,
        Folder.TRASH: c.state == ThreadState.TRASH.value,
        Folder.SPAM: c.state == ThreadState.SPAM.value,
    }


def folder_filter(viewer: Viewer, folder: Folder) -> ColumnElement[bool] | None:
    """Which of the viewer's visible threads the folder holds; None for all of them."""
    if folder is Folder.ALL:
        return None
    return _conditions(Thread.__table__.c, unread_count(viewer), viewer.user_id)[folder]


async def folder_counts(conn: AsyncConnection, viewer: Viewer, source: Source | None) -> dict[Folder, tuple[int, int]]:
    """For each staff folder: how many threads it holds, and how many of those have unread messages."""
    t = Thread.__table__.c
    visible = select(
        t.id, t.state, t.follow_up_at, t.snoozed, t.assignee_id, t.urgent, unread_count(viewer).label("unread")
    )
    visible = visible.where(thread_visible(viewer))
    if source is not None:
        visible = visible.where(t.source == source.value)
    rows = visible.subquery()
    columns = []
    for folder, condition in _conditions(rows.c, rows.c.unread, viewer.user_id).items():
        has_unread = and_(condition, rows.c.unread > 0)
        columns.append(func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(f"{folder.value}_count"))
        columns.append(func.coalesce(func.sum(case((has_unread, 1), else_=0)), 0).label(f"{folder.value}_unread"))
    row = (await conn.execute(select(*columns).select_from(rows))).one()
    return {
        folder: (int(getattr(row, f"{folder.value}_count")), int(getattr(row, f"{folder.value}_unread")))
        for folder in STAFF_FOLDERS
    }
