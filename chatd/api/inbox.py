"""The staff inbox over HTTP: the same service calls as the WebSocket ops (chatd/inbox_ops.py)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd import errors
from chatd.api.common import account, body, json, path_id, services
from chatd.inbox_ops import handle
from protocol import frames
from protocol.actions import Action
from protocol.frames import PositiveId


class ActRequest(msgspec.Struct, forbid_unknown_fields=True):
    thread_ids: Annotated[list[PositiveId], msgspec.Meta(min_length=1, max_length=500)]
    action: Action


def _frame(schema: type[msgspec.Struct], fields: dict[str, Any]) -> Any:
    """The WebSocket frame for HTTP input, checked by the same schema (a request id is not HTTP's)."""
    if "id" in fields:
        raise errors.BadRequest("unknown field 'id'")
    try:
        return msgspec.convert(fields, schema, strict=False)
    except msgspec.ValidationError as exc:
        raise errors.BadRequest(str(exc)) from None


def _from_query(request: Request, schema: type[msgspec.Struct]) -> Any:
    return _frame(schema, dict(request.query_params))


async def _from_body(request: Request, schema: type[msgspec.Struct], **path: int) -> Any:
    return _frame(schema, {**await body(request, dict[str, Any]), **path})


async def _run(request: Request, frame: Any, status: int = 200) -> Response:
    caller = await account(request)
    return json(await handle(services(request), caller, frame), status)


async def folders(request: Request) -> Response:
    return await _run(request, _from_query(request, frames.Folders))


async def thread(request: Request) -> Response:
    return await _run(request, frames.ThreadGet(thread_id=path_id(request, "thread_id")))


async def act(request: Request) -> Response:
    new = await body(request, ActRequest)
    return await _run(request, frames.ThreadsAct(thread_ids=new.thread_ids, action=new.action))


async def ack(request: Request) -> Response:
    return await _run(request, frames.MessageAck(message_id=path_id(request, "message_id")))


async def acks(request: Request) -> Response:
    return await _run(request, frames.MessageAcks(message_id=path_id(request, "message_id")))


async def create_task(request: Request) -> Response:
    frame = await _from_body(request, frames.TaskCreate, message_id=path_id(request, "message_id"))
    return await _run(request, frame, 201)


async def update_task(request: Request) -> Response:
    return await _run(request, await _from_body(request, frames.TaskUpdate, task_id=path_id(request, "task_id")))


async def list_tasks(request: Request) -> Response:
    return await _run(request, _from_query(request, frames.Tasks))


async def task_history(request: Request) -> Response:
    return await _run(request, frames.TaskHistory(task_id=path_id(request, "task_id")))


async def client_card(request: Request) -> Response:
    return await _run(request, frames.ClientCard(client_account_id=path_id(request, "client_account_id")))


async def remarks(request: Request) -> Response:
    return await _run(request, _from_query(request, frames.Remarks))


async def firm_settings(request: Request) -> Response:
    return await _run(request, frames.FirmSettings())


async def update_firm_settings(request: Request) -> Response:
    return await _run(request, await _from_body(request, frames.FirmSettingsUpdate))


async def search(request: Request) -> Response:
    return await _run(request, _from_query(request, frames.Search))


routes = [
    Route("/api/folders", folders, methods=["GET"]),
    Route("/api/threads/{thread_id:int}", thread, methods=["GET"]),
    Route("/api/threads/actions", act, methods=["POST"]),
    Route("/api/messages/{message_id:int}/ack", ack, methods=["POST"]),
    Route("/api/messages/{message_id:int}/acks", acks, methods=["GET"]),
    Route("/api/messages/{message_id:int}/task", create_task, methods=["POST"]),
    Route("/api/tasks", list_tasks, methods=["GET"]),
    Route("/api/tasks/{task_id:int}", update_task, methods=["PATCH"]),
    Route("/api/tasks/{task_id:int}/history", task_history, methods=["GET"]),
    Route("/api/clients/{client_account_id:int}", client_card, methods=["GET"]),
    Route("/api/remarks", remarks, methods=["GET"]),
    Route("/api/firm/settings", firm_settings, methods=["GET"]),
    Route("/api/firm/settings", update_firm_settings, methods=["PATCH"]),
    Route("/api/search", search, methods=["GET"]),
]
