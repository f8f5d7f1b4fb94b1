"""Business hours, reply reminders and recurring messages over HTTP: the WebSocket ops' calls."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, json, path_id, services
from chatd.api.inbox import _from_body, _from_query
from chatd.automation_ops import handle
from protocol import frames


async def _run(request: Request, frame: Any, status: int = 200) -> Response:
    caller = await account(request)
    return json(await handle(services(request), caller, frame), status)


async def get_hours(request: Request) -> Response:
    return await _run(request, frames.BusinessHoursGet())


async def set_hours(request: Request) -> Response:
    return await _run(request, await _from_body(request, frames.BusinessHoursSet))


async def get_reminders(request: Request) -> Response:
    return await _run(request, frames.RemindersGet(thread_id=path_id(request, "thread_id")))


async def set_reminders(request: Request) -> Response:
    frame = await _from_body(request, frames.RemindersSet, thread_id=path_id(request, "thread_id"))
    return await _run(request, frame)


async def resend_reminder(request: Request) -> Response:
    return await _run(request, frames.RemindersResend(thread_id=path_id(request, "thread_id")))


async def create_recurring(request: Request) -> Response:
    frame = await _from_body(request, frames.RecurringCreate, thread_id=path_id(request, "thread_id"))
    return await _run(request, frame, 201)


async def list_recurring(request: Request) -> Response:
    return await _run(request, _from_query(request, frames.RecurringList))


async def update_recurring(request: Request) -> Response:
    frame = await _from_body(request, frames.RecurringUpdate, recurring_id=path_id(request, "recurring_id"))
    return await _run(request, frame)


async def cancel_recurring(request: Request) -> Response:
    return await _run(request, frames.RecurringCancel(recurring_id=path_id(request, "recurring_id")))


routes = [
    Route("/api/firm/business-hours", get_hours, methods=["GET"]),
    Route("/api/firm/business-hours", set_hours, methods=["PUT"]),
    Route("/api/threads/{thread_id:int}/reminders", get_reminders, methods=["GET"]),
    Route("/api/threads/{thread_id:int}/reminders", set_reminders, methods=["PUT"]),
    Route("/api/threads/{thread_id:int}/reminders/resend", resend_reminder, methods=["POST"]),
    Route("/api/threads/{thread_id:int}/recurring", create_recurring, methods=["POST"]),
    Route("/api/recurring", list_recurring, methods=["GET"]),
    Route("/api/recurring/{recurring_id:int}", update_recurring, methods=["PATCH"]),
    Route("/api/recurring/{recurring_id:int}", cancel_recurring, methods=["DELETE"]),
]
