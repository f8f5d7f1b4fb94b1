"""The staff inbox's WebSocket ops: each frame to its service call, and the result's shape."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import msgspec

from chatd import errors
from chatd.services.context import Services
from protocol.frames import (
    ClientCard,
    FirmSettings,
    FirmSettingsUpdate,
    Folders,
    InboxFrame,
    MessageAck,
    MessageAcks,
    Remarks,
    Search,
    TaskCreate,
    TaskHistory,
    Tasks,
    TaskUpdate,
    ThreadGet,
    ThreadsAct,
)
from storage.directory import Account
from storage.search import SearchQuery


async def handle(services: Services, account: Account, frame: InboxFrame) -> dict[str, Any]:
    inbox, tasks = services.inbox, services.tasks
    match frame:
        case ThreadGet():
            return {"thread": await services.conversations.thread(account, frame.thread_id)}
        case Folders():
            return {"folders": await inbox.folders(account, source=frame.source)}
        case ThreadsAct():
            return {"results": await inbox.act(account, thread_ids=frame.thread_ids, action=frame.action)}
        case MessageAck():
            return await inbox.acknowledge(account, message_id=frame.message_id)
        case MessageAcks():
            return {"acks": await inbox.acks(account, message_id=frame.message_id)}
        case TaskCreate():
            task = await tasks.create(
                account, message_id=frame.message_id, assignee_id=frame.assignee_id, due_on=frame.due_on
            )
            return {"task": task}
        case TaskUpdate():
            changes = set_fields(frame, "task_id")
            return {"task": await tasks.update(account, task_id=frame.task_id, changes=changes)}
        case Tasks():
            found, cursor = await tasks.list_tasks(
                account,
                assignee_id=frame.assignee_id,
                thread_id=frame.thread_id,
                status=frame.status,
                cursor=frame.cursor,
                limit=frame.limit,
            )
            return {"tasks": found, "cursor": cursor}
        case TaskHistory():
            return {"changes": await tasks.history(account, task_id=frame.task_id)}
        case ClientCard():
            return await inbox.client_card(account, client_account_id=frame.client_account_id)
        case Remarks():
            messages, cursor = await inbox.remarks(account, cursor=frame.cursor, limit=frame.limit)
            return {"messages": messages, "cursor": cursor}
        case FirmSettings():
            return {"settings": await inbox.firm_settings(account)}
        case FirmSettingsUpdate():
            return {"settings": await inbox.update_firm_settings(account, set_fields(frame))}
        case Search():
            return await services.search.search(
                account, text=frame.q, narrow=search_filters(frame), cursor=frame.cursor, limit=frame.limit
            )
    raise errors.BadRequest("unhandled op")


def set_fields(frame: msgspec.Struct, *target: str) -> dict[str, Any]:
    """The fields a partial update names (left UNSET otherwise), without the request id and the
    fields naming its target."""
    skipped = {"id", *target}
    return {
        name: getattr(frame, name)
        for name in frame.__struct_fields__
        if name not in skipped and getattr(frame, name) is not msgspec.UNSET
    }


def search_filters(frame: Search) -> SearchQuery:
    """The structured filters of a search request (the ``q`` string may add more)."""
    return SearchQuery(
        author_ids=(frame.author_id,) if frame.author_id else (),
        client_account_ids=(frame.client_account_id,) if frame.client_account_id else (),
        subject=frame.subject,
        since=datetime.combine(frame.after, time(), UTC) + timedelta(days=1) if frame.after else None,
        until=datetime.combine(frame.before, time(), UTC) if frame.before else None,
        folders=(frame.folder,) if frame.folder else (),
        has_attachment=frame.has_attachment,
        unread=frame.unread,
    )
