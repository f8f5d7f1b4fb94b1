"""Threads and messages over HTTP: the same service calls as the WebSocket ops."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, body, json, path_id, query, services
from chatd.automation_ops import new_thread_reminders
from chatd.services.conversations import SendOptions
from protocol.actions import Label
from protocol.frames import (
    AttachmentIds,
    ClientMsgId,
    CopyChannels,
    FillIns,
    PageLimit,
    PositiveId,
    ReminderSpec,
    SendAt,
    TaskSpec,
)
from protocol.values import Folder, MessageKind, Role, Source


class ThreadPage(msgspec.Struct, forbid_unknown_fields=True):
    cursor: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    limit: PageLimit = 50
    folder: Folder = Folder.ALL
    source: Source | None = None
    label: Label | None = None
    client_account_id: PositiveId | None = None


class NewThread(msgspec.Struct, forbid_unknown_fields=True):
    client_msg_id: ClientMsgId
    subject: Annotated[str, msgspec.Meta(max_length=200)] = ""
    body: str = ""
    client_account_id: PositiveId | None = None
    participants: Annotated[list[PositiveId], msgspec.Meta(max_length=50)] = []
    attachment_ids: AttachmentIds = []
    signature: bool = True
    template_id: PositiveId | None = None
    fields: FillIns = {}
    reminders: ReminderSpec | None = None


class MessagePage(msgspec.Struct, forbid_unknown_fields=True):
    before: PositiveId | None = None
    after: Annotated[int, msgspec.Meta(ge=0)] | None = None
    limit: PageLimit = 50


class NewMessage(msgspec.Struct, forbid_unknown_fields=True):
    body: str
    client_msg_id: ClientMsgId
    kind: MessageKind = MessageKind.MESSAGE
    attachment_ids: AttachmentIds = []
    send_at: SendAt | None = None
    cancel_if_client_writes: bool = False
    urgent: bool = False
    ack_requested: bool = False
    private_to: PositiveId | None = None
    cc: Annotated[list[PositiveId], msgspec.Meta(max_length=50)] = []
    task: TaskSpec | None = None
    signature: bool = True
    copy_to: CopyChannels | None = None


class MessageEdit(msgspec.Struct, forbid_unknown_fields=True):
    body: str


class ReadMarker(msgspec.Struct, forbid_unknown_fields=True):
    message_id: PositiveId


async def list_threads(request: Request) -> Response:
    caller, page = await account(request), query(request, ThreadPage)
    found = await services(request).conversations.threads(
        caller,
        cursor=page.cursor,
        limit=page.limit,
        folder=page.folder,
        source=page.source,
        label=page.label,
        client_account_id=page.client_account_id,
    )
    return json({"threads": found.threads, "cursor": found.cursor})


async def create_thread(request: Request) -> Response:
    caller, new = await account(request), await body(request, NewThread)
    await new_thread_reminders(services(request), caller, new.reminders)
    thread, message = await services(request).conversations.create_thread(
        caller,
        subject=new.subject,
        body=new.body,
        client_msg_id=new.client_msg_id,
        client_account_id=new.client_account_id,
        participants=new.participants,
        attachment_ids=new.attachment_ids,
        # A bearer token is an integration's; the cookie is the web app's.
        source=Source.API if "authorization" in request.headers or caller.user.role is Role.BOT else Source.PORTAL,
        signature=new.signature,
        template_id=new.template_id,
        fields=new.fields,
    )
    await new_thread_reminders(services(request), caller, new.reminders, thread_id=thread.id)
    return json({"thread": thread, "message": message}, 201)


async def list_messages(request: Request) -> Response:
    caller, page = await account(request), query(request, MessagePage)
    messages, has_more = await services(request).conversations.history(
        caller, thread_id=path_id(request, "thread_id"), before=page.before, after=page.after, limit=page.limit
    )
    return json({"messages": messages, "has_more": has_more})


async def send_message(request: Request) -> Response:
    caller, new = await account(request), await body(request, NewMessage)
    if new.send_at is not None:
        scheduled = await services(request).scheduled_sends.schedule(
            caller,
            thread_id=path_id(request, "thread_id"),
            body=new.body,
            client_msg_id=new.client_msg_id,
            kind=new.kind,
            send_at=new.send_at,
            cancel_if_client_writes=new.cancel_if_client_writes,
            attachment_ids=new.attachment_ids,
            signature=new.signature,
            copy_to=new.copy_to,
        )
        return json({"scheduled": scheduled}, 201)
    message = await services(request).conversations.send(
        caller,
        thread_id=path_id(request, "thread_id"),
        body=new.body,
        client_msg_id=new.client_msg_id,
        kind=new.kind,
        attachment_ids=new.attachment_ids,
        options=SendOptions(
            urgent=new.urgent,
            ack_requested=new.ack_requested,
            private_to=new.private_to,
            cc=tuple(new.cc),
            task=new.task,
            signature=new.signature,
            copy_to=None if new.copy_to is None else tuple(new.copy_to),
        ),
    )
    return json({"message": message}, 201)


async def mark_read(request: Request) -> Response:
    caller, marker = await account(request), await body(request, ReadMarker)
    await services(request).conversations.read(
        caller, thread_id=path_id(request, "thread_id"), message_id=marker.message_id
    )
    return Response(status_code=204)


async def edit_message(request: Request) -> Response:
    caller, edit = await account(request), await body(request, MessageEdit)
    message = await services(request).conversations.edit(
        caller, message_id=path_id(request, "message_id"), body=edit.body
    )
    return json({"message": message})


async def delete_message(request: Request) -> Response:
    caller = await account(request)
    message = await services(request).conversations.delete(caller, message_id=path_id(request, "message_id"))
    return json({"message": message})


routes = [
    Route("/api/threads", list_threads, methods=["GET"]),
    Route("/api/threads", create_thread, methods=["POST"]),
    Route("/api/threads/{thread_id:int}/messages", list_messages, methods=["GET"]),
    Route("/api/threads/{thread_id:int}/messages", send_message, methods=["POST"]),
    Route("/api/threads/{thread_id:int}/read", mark_read, methods=["POST"]),
    Route("/api/messages/{message_id:int}", edit_message, methods=["PATCH"]),
    Route("/api/messages/{message_id:int}", delete_message, methods=["DELETE"]),
]
