"""Templates, quick replies and clients' custom fields over HTTP (the composer's ops on the socket)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, body, json, path_id, query, services
from chatd.compose_ops import rendered_result
from protocol.frames import FillIns, PositiveId
from protocol.values import TemplateField
from storage.templates import TemplateDraft


class TemplateIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    body: str
    subject: str = ""
    instruction: str = ""
    shortcut: str | None = None
    fields: Annotated[list[TemplateField], msgspec.Meta(max_length=20)] = []
    scope: str = "personal"

    def draft(self) -> TemplateDraft:
        return TemplateDraft(
            name=self.name,
            shortcut=self.shortcut,
            subject=self.subject,
            body=self.body,
            instruction=self.instruction,
            fields=self.fields,
        )


class PreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    template_id: PositiveId | None = None
    subject: str | None = None
    body: str | None = None
    client_account_id: PositiveId | None = None
    fields: FillIns = {}


class DefaultIn(msgspec.Struct, forbid_unknown_fields=True):
    template_id: PositiveId | None


class QuickReplyQuery(msgspec.Struct, forbid_unknown_fields=True):
    prefix: str = ""


class ExpandIn(msgspec.Struct, forbid_unknown_fields=True):
    shortcut: Annotated[str, msgspec.Meta(min_length=1, max_length=51)]
    thread_id: PositiveId | None = None


CustomFields = Annotated[
    dict[Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")], Annotated[str, msgspec.Meta(max_length=500)]],
    msgspec.Meta(max_length=50),
]


class ClientFieldsIn(msgspec.Struct, forbid_unknown_fields=True):
    fields: CustomFields


async def list_templates(request: Request) -> Response:
    found, default = await services(request).templates.available(await account(request))
    return json({"templates": found, "default_template_id": default})


async def create_template(request: Request) -> Response:
    caller, new = await account(request), await body(request, TemplateIn)
    created = await services(request).templates.create(caller, scope=new.scope, draft=new.draft())
    return json({"template": created}, 201)


async def update_template(request: Request) -> Response:
    caller, new = await account(request), await body(request, TemplateIn)
    updated = await services(request).templates.update(caller, path_id(request, "template_id"), new.draft())
    return json({"template": updated})


async def delete_template(request: Request) -> Response:
    await services(request).templates.delete(await account(request), path_id(request, "template_id"))
    return Response(status_code=204)


async def preview_template(request: Request) -> Response:
    caller, wanted = await account(request), await body(request, PreviewIn)
    rendered, html, template = await services(request).templates.preview(
        caller,
        template_id=wanted.template_id,
        subject=wanted.subject,
        body=wanted.body,
        client_account_id=wanted.client_account_id,
        thread_id=None,
        fields=wanted.fields,
    )
    instruction = template.instruction if template is not None else ""
    return json({**rendered_result(rendered, html), "instruction": instruction})


async def set_default(request: Request) -> Response:
    caller, wanted = await account(request), await body(request, DefaultIn)
    await services(request).templates.set_default(caller, wanted.template_id)
    return Response(status_code=204)


async def list_quick_replies(request: Request) -> Response:
    caller, wanted = await account(request), query(request, QuickReplyQuery)
    found, _default = await services(request).templates.available(
        caller, shortcut_prefix=wanted.prefix.removeprefix("/")
    )
    return json({"quick_replies": found})


async def expand_quick_reply(request: Request) -> Response:
    caller, wanted = await account(request), await body(request, ExpandIn)
    rendered, template = await services(request).templates.expand(
        caller, shortcut=wanted.shortcut, thread_id=wanted.thread_id
    )
    return json({"body": rendered.body, "unknown": rendered.unknown, "template_id": template.id})


async def set_client_fields(request: Request) -> Response:
    caller, wanted = await account(request), await body(request, ClientFieldsIn)
    await services(request).templates.set_client_fields(caller, path_id(request, "client_account_id"), wanted.fields)
    return Response(status_code=204)


class DraftQuery(msgspec.Struct, forbid_unknown_fields=True):
    thread_id: PositiveId | None = None


class DraftIn(msgspec.Struct, forbid_unknown_fields=True):
    body: str


async def list_drafts(request: Request) -> Response:
    caller, wanted = await account(request), query(request, DraftQuery)
    return json({"drafts": await services(request).drafts.list(caller, thread_id=wanted.thread_id)})


async def save_draft(request: Request) -> Response:
    caller, draft = await account(request), await body(request, DraftIn)
    await services(request).drafts.save(caller, thread_id=path_id(request, "thread_id"), body=draft.body)
    return Response(status_code=204)


class EditWindowIn(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int


async def message_versions(request: Request) -> Response:
    caller = await account(request)
    found = await services(request).edit_history.versions(caller, path_id(request, "message_id"))
    return json({"versions": found})


async def get_edit_window(request: Request) -> Response:
    return json({"minutes": await services(request).edit_history.window(await account(request))})


async def set_edit_window(request: Request) -> Response:
    caller, wanted = await account(request), await body(request, EditWindowIn)
    await services(request).edit_history.set_window(caller, wanted.minutes)
    return Response(status_code=204)


routes = [
    Route("/api/messages/{message_id:int}/versions", message_versions, methods=["GET"]),
    Route("/api/firm/edit-window", get_edit_window, methods=["GET"]),
    Route("/api/firm/edit-window", set_edit_window, methods=["PUT"]),
    Route("/api/drafts", list_drafts, methods=["GET"]),
    Route("/api/threads/{thread_id:int}/draft", save_draft, methods=["PUT"]),
    Route("/api/templates", list_templates, methods=["GET"]),
    Route("/api/templates", create_template, methods=["POST"]),
    Route("/api/templates/preview", preview_template, methods=["POST"]),
    Route("/api/templates/default", set_default, methods=["PUT"]),
    Route("/api/templates/{template_id:int}", update_template, methods=["PUT"]),
    Route("/api/templates/{template_id:int}", delete_template, methods=["DELETE"]),
    Route("/api/quick-replies", list_quick_replies, methods=["GET"]),
    Route("/api/quick-replies/expand", expand_quick_reply, methods=["POST"]),
    Route("/api/client-accounts/{client_account_id:int}/fields", set_client_fields, methods=["PUT"]),
]
