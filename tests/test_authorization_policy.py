"""Who may do what, from one policy table: every WebSocket op and every HTTP endpoint, for every
role, on objects of the caller's firm and of another firm.

The table must name every op of protocol.frames.ClientFrame and every route of the app: a new op
or route without a policy entry fails ``test_the_policy_names_every_op_and_route``. Then:

- an object of another firm is refused to every role exactly as a missing id is: the same status
  and the same bytes (with the id swapped), so a probe learns nothing;
- within the firm, a role the table does not allow is refused the same way (``not_found``, or the
  table's code for actions that name no object), and nothing changes;
- every object is a real one of its firm (a thread, a task, a recurring message, a bulk send, a
  client event, a rule and its draft, a failed delivery…): a refusal is compared with a missing id
  for an object that exists;
- a role the table allows gets a 2xx answer for what only reads; for a write, each role allowed
  does it on fresh objects and the read the table names (``EFFECTS``) shows the change, or the
  table says why the write is not run here (``NOT_RUN``, with the test that covers it);
- anonymous and deactivated callers get 401 on every endpoint but the public ones, and 403 at the
  WebSocket handshake.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import typing
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio
import websockets
from starlette.routing import Route

from chatd.app import create_app
from chatd.config import Settings
from chatd.services.context import Services
from chatd.services.notifications import PUSH_KIND
from protocol.frames import ClientFrame
from protocol.values import Role, User
from storage import due as due_store
from storage import genmail as genmail_store
from tests.conftest import Connect, new_id
from tests.support import ChatdProcess, Firm, WsClient, new_firm

MISSING = 987654321
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# Who acts. "client2" is a client of the same firm but another client account; "bot" is a bot
# scoped to the threads it is added to, and it is added to the firm's thread.
ROLES = ("owner", "manager", "staff", "client", "client2", "bot", "other_staff", "other_client")
STAFF = frozenset({"owner", "manager", "staff"})
EVERYONE = frozenset(ROLES)
IN_THREAD = STAFF | {"client", "bot"}
STAFF_AND_BOT = STAFF | {"bot"}
OWNER = frozenset({"owner"})
MANAGERS = frozenset({"owner", "manager"})
CLIENTS = ("client", "client2")


def _gate(code: str, *roles: str) -> dict[str, str]:
    return dict.fromkeys(roles, code)


NOT_FOR_CLIENTS = _gate("forbidden", *CLIENTS)
PUBLIC = frozenset(
    {
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "POST /api/login",
        "POST /api/logout",
        "GET /api/protocol",
        "GET /api/protocol/schema",
        "GET /api/protocol/vectors",
        "GET /api/push/key",
    }
)

Ids = dict[str, int]
Build = Callable[[Ids], dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """One action: the object it names (its id is what a probe would vary), who of the firm may
    do it, whether it only reads, and how to make the request from the objects' ids."""

    obj: str | None
    allowed: frozenset[str]
    build: Build = field(default=lambda o: {})
    reads: bool = False
    # Roles refused for what they are, whatever the object (the same answer for any id, a missing
    # one too), with this code: "the inbox is for staff".
    gated: dict[str, str] = field(default_factory=dict)
    # The id only narrows a list: another firm's id lists nothing, exactly as a missing id does.
    narrows: bool = False
    # The gate comes after the lookup: an object the role cannot see is refused as missing first.
    gate_after_lookup: bool = False
    # For a write: the read (a row of this table, asked on the same objects by the same role, or by
    # ``effect_by``) whose answer it changes; or, instead, why an allowed write is not run here.
    effect: str | None = None
    effect_by: str | None = None
    not_run: str = ""


def _send(o: Ids) -> dict[str, Any]:
    return {"thread_id": o["thread"], "body": "probe", "client_msg_id": uuid.uuid4().hex}


def _new_thread(o: Ids) -> dict[str, Any]:
    return {
        "subject": "probe",
        "body": "probe",
        "client_msg_id": uuid.uuid4().hex,
        "client_account_id": o["client_account"],
    }


# A different value each time: setting the firm's value it has already would change nothing.
_hours = itertools.count(3)
_minutes = itertools.count(6)
_zones = itertools.cycle(sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and zone != "Etc/UTC"))


def _later() -> str:
    return (datetime.now(UTC) + timedelta(days=3)).isoformat()


POLICY: dict[str, Rule] = {
    # -- WebSocket ops --
    "ws send": Rule("thread", IN_THREAD, _send),
    # Only a message's author edits it; none of the roles wrote the probed message.
    "ws edit": Rule("message", frozenset(), lambda o: {"message_id": o["message"], "body": "changed"}),
    "ws delete": Rule("message", MANAGERS, lambda o: {"message_id": o["message"]}),
    "ws typing": Rule("thread", IN_THREAD, lambda o: {"thread_id": o["thread"]}, reads=True),
    "ws read": Rule("thread", IN_THREAD, lambda o: {"thread_id": o["thread"], "message_id": o["message"]}),
    "ws history": Rule("thread", IN_THREAD, lambda o: {"thread_id": o["thread"]}, reads=True),
    "ws threads": Rule(
        "client_account", EVERYONE, lambda o: {"client_account_id": o["client_account"]}, reads=True, narrows=True
    ),
    "ws thread.create": Rule("client_account", STAFF_AND_BOT | {"client"}, _new_thread),
    "ws resume": Rule(None, EVERYONE, lambda o: {"after_event_id": 0}, reads=True),
    "ws ping": Rule(None, EVERYONE, reads=True),
    "ws scheduled.list": Rule(
        "thread",
        STAFF_AND_BOT,
        lambda o: {"thread_id": o["thread"]},
        reads=True,
        narrows=True,
        gated=_gate("bad_request", *CLIENTS),
    ),
    # The author, owners and managers change a scheduled message.
    "ws scheduled.edit": Rule("scheduled", MANAGERS, lambda o: {"scheduled_id": o["scheduled"], "body": "x"}),
    "ws scheduled.cancel": Rule("scheduled", MANAGERS, lambda o: {"scheduled_id": o["scheduled"]}),
    "ws template.list": Rule(None, STAFF, reads=True),
    # Templates are their maker's (the owner made the probed one).
    "ws template.preview": Rule("template", OWNER, lambda o: {"template_id": o["template"]}, reads=True),
    "ws quick_reply.list": Rule(None, STAFF, reads=True),
    "ws quick_reply.expand": Rule("thread", STAFF_AND_BOT, lambda o: {"shortcut": "/probe", "thread_id": o["thread"]}),
    "ws draft.save": Rule("thread", IN_THREAD, lambda o: {"thread_id": o["thread"], "body": "draft"}),
    "ws draft.list": Rule("thread", IN_THREAD, lambda o: {"thread_id": o["thread"]}, reads=True, narrows=True),
    "ws message.versions": Rule("message", STAFF_AND_BOT, lambda o: {"message_id": o["message"]}, reads=True),
    "ws thread.get": Rule("thread", IN_THREAD, lambda o: {"thread_id": o["thread"]}, reads=True),
    "ws folders": Rule(None, STAFF_AND_BOT, reads=True, gated=NOT_FOR_CLIENTS),
    "ws threads.act": Rule(
        "thread",
        STAFF_AND_BOT,
        lambda o: {"thread_ids": [o["thread"]], "action": {"type": "archive"}},
        gated=NOT_FOR_CLIENTS,
    ),
    "ws message.ack": Rule("message", IN_THREAD, lambda o: {"message_id": o["message"]}),
    "ws message.acks": Rule("message", IN_THREAD, lambda o: {"message_id": o["message"]}, reads=True),
    "ws task.create": Rule(
        "message",
        STAFF_AND_BOT,
        lambda o: {"message_id": o["message"], "assignee_id": o["author"]},
        gated=NOT_FOR_CLIENTS,
    ),
    # A client may only tick their own tasks: one they see is refused, one they do not is missing.
    "ws task.update": Rule(
        "task",
        STAFF_AND_BOT,
        lambda o: {"task_id": o["task"], "done": True},
        gated=_gate("forbidden", "client"),
        gate_after_lookup=True,
    ),
    "ws tasks": Rule(
        "thread", IN_THREAD, lambda o: {"thread_id": o["thread"], "status": "all"}, reads=True, narrows=True
    ),
    "ws task.history": Rule("task", IN_THREAD, lambda o: {"task_id": o["task"]}, reads=True),
    "ws client.card": Rule(
        "client_account",
        STAFF_AND_BOT,
        lambda o: {"client_account_id": o["client_account"]},
        reads=True,
        gated=NOT_FOR_CLIENTS,
    ),
    "ws remarks": Rule(None, MANAGERS, reads=True, gated=_gate("forbidden", "staff", "bot", *CLIENTS)),
    "ws firm.settings": Rule(None, EVERYONE, reads=True),
    "ws firm.settings.update": Rule(
        None,
        OWNER,
        lambda o: {"urgent_renotify_minutes": next(_minutes)},
        gated=_gate("forbidden", "manager", "staff", "bot", *CLIENTS),
    ),
    "ws search": Rule(None, EVERYONE, lambda o: {"q": "probe"}, reads=True),
    "ws signature.get": Rule(None, STAFF, reads=True),
    "ws mention.suggest": Rule("thread", IN_THREAD, lambda o: {"thread_id": o["thread"]}, reads=True),
    # Bulk sends start a job (a new id each time, so no two answers are alike): only who may start
    # one is checked here; accounts of another firm fail in the job's per-account results, as a
    # missing account does (chatd/services/bulk_sends.py).
    "ws bulk.send": Rule(
        None,
        STAFF,
        build=lambda o: {
            "key": uuid.uuid4().hex,
            "client_account_ids": [o["client_account"]],
            "subject": "probe",
            "body": "probe",
        },
    ),
    # A bulk send is its requester's (a staff member none of the roles is).
    "ws bulk.get": Rule("bulk", frozenset(), lambda o: {"bulk_id": o["bulk"]}, reads=True),
    # Automation (docs/scheduler.md): staff and bots; owners set the business hours.
    "ws business_hours": Rule(None, STAFF_AND_BOT, reads=True, gated=NOT_FOR_CLIENTS),
    "ws business_hours.set": Rule(
        None,
        OWNER,
        lambda o: {"time_zone": next(_zones)},
        gated=_gate("forbidden", "manager", "staff", "bot", *CLIENTS),
    ),
    "ws reminders.get": Rule(
        "thread", STAFF_AND_BOT, lambda o: {"thread_id": o["thread"]}, reads=True, gated=NOT_FOR_CLIENTS
    ),
    "ws reminders.set": Rule(
        "thread", STAFF_AND_BOT, lambda o: {"thread_id": o["thread"], "enabled": True}, gated=NOT_FOR_CLIENTS
    ),
    "ws reminders.resend": Rule("thread", STAFF_AND_BOT, lambda o: {"thread_id": o["thread"]}, gated=NOT_FOR_CLIENTS),
    # The automatic-emails queue over the WebSocket, as over HTTP below: the firm's staff work it.
    "ws automatic_emails.rules": Rule(None, STAFF, reads=True),
    "ws automatic_emails.drafts": Rule(None, STAFF, reads=True),
    "ws automatic_emails.edit": Rule("email_draft", STAFF, lambda o: {"draft_id": o["email_draft"], "body": "x"}),
    "ws automatic_emails.send": Rule("email_draft", STAFF, lambda o: {"draft_id": o["email_draft"]}),
    "ws automatic_emails.send_all": Rule("rule", STAFF, lambda o: {"rule_id": o["rule"]}),
    "ws recurring.create": Rule(
        "thread",
        STAFF_AND_BOT,
        lambda o: {"thread_id": o["thread"], "body": "probe", "rule": "0 9 * * mon"},
        gated=NOT_FOR_CLIENTS,
    ),
    "ws recurring.list": Rule(
        "thread", STAFF_AND_BOT, lambda o: {"thread_id": o["thread"]}, reads=True, gated=NOT_FOR_CLIENTS
    ),
    # Its author, owners and managers change a recurring message.
    "ws recurring.update": Rule(
        "recurring", MANAGERS, lambda o: {"recurring_id": o["recurring"], "paused": True}, gated=NOT_FOR_CLIENTS
    ),
    "ws recurring.cancel": Rule(
        "recurring", MANAGERS, lambda o: {"recurring_id": o["recurring"]}, gated=NOT_FOR_CLIENTS
    ),
}


# What each allowed write changes (module docstring): the read that shows it, or why it is not run.
# Applied to the WebSocket ops before their HTTP twins copy them (``_same_as``), then to the rest.
EFFECTS: dict[str, str | tuple[str, str]] = {
    "ws send": "ws history",
    "ws delete": "GET /api/messages",
    "ws read": "GET /api/threads/{thread_id:int}/readers",
    "ws thread.create": "ws threads",
    "ws scheduled.edit": "ws scheduled.list",
    "ws scheduled.cancel": "ws scheduled.list",
    "ws draft.save": "ws draft.list",
    "ws threads.act": "ws thread.get",
    "ws message.ack": "ws message.acks",
    "ws task.create": "ws tasks",
    "ws task.update": "ws task.history",
    "ws firm.settings.update": "ws firm.settings",
    "ws bulk.send": "ws threads",
    "ws business_hours.set": "ws business_hours",
    "ws reminders.set": "ws reminders.get",
    "ws recurring.create": "ws recurring.list",
    "ws recurring.update": "ws recurring.list",
    "ws recurring.cancel": "ws recurring.list",
    "ws automatic_emails.edit": "GET /api/automatic-emails/drafts/{draft_id:int}",
    "ws automatic_emails.send": "GET /api/automatic-emails/drafts/{draft_id:int}",
    "ws automatic_emails.send_all": "ws automatic_emails.drafts",
    "PUT /api/firm/edit-window": "GET /api/firm/edit-window",
    "POST /api/users": "GET /api/users",
    "PATCH /api/users/{user_id:int}": "GET /api/users/{user_id:int}",
    "POST /api/templates": "GET /api/templates",
    "PUT /api/templates/default": "GET /api/templates",
    "PUT /api/templates/{template_id:int}": "GET /api/templates",
    "DELETE /api/templates/{template_id:int}": "GET /api/templates",
    "POST /api/bots": "GET /api/bots",
    "PATCH /api/bots/{bot_id:int}": "GET /api/bots/{bot_id:int}",
    "POST /api/bots/{bot_id:int}/tokens": "GET /api/bots/{bot_id:int}/tokens",
    "DELETE /api/bots/{bot_id:int}/tokens/{token_id:int}": "GET /api/bots/{bot_id:int}/tokens",
    "DELETE /api/bots/{bot_id:int}/threads/{thread_id:int}": ("ws history", "bot"),
    "POST /api/deliveries/{delivery_id:int}/retry": "GET /api/deliveries",
    "PUT /api/me/signature": "ws signature.get",
    "PUT /api/firm/signature": "GET /api/firm/signature",
    "POST /api/client-events": "GET /api/client-events",
    "POST /api/client-events/import": "GET /api/client-events",
    "POST /api/client-events/kinds": "GET /api/client-events/kinds",
    "DELETE /api/client-events/{event_id:int}": "GET /api/client-events",
    "POST /api/automatic-emails/rules": "GET /api/automatic-emails/rules",
    "PATCH /api/automatic-emails/rules/{rule_id:int}": "GET /api/automatic-emails/rules",
    "PATCH /api/automatic-emails/settings": "GET /api/automatic-emails/settings",
    "PATCH /api/automatic-emails/drafts/{draft_id:int}": "GET /api/automatic-emails/drafts/{draft_id:int}",
    "POST /api/automatic-emails/drafts/{draft_id:int}/send": "GET /api/automatic-emails/drafts/{draft_id:int}",
    "POST /api/automatic-emails/rules/{rule_id:int}/send-all": "ws automatic_emails.drafts",
}
NOT_RUN = {
    "PUT /api/client-accounts/{client_account_id:int}/fields": "the fields show in template renderings only: "
    "tests/test_templates.py",
    "ws quick_reply.expand": "the probed shortcut does not exist: an expansion changes nothing anyway",
    "ws reminders.resend": "it emails the client now: tests/test_reminders.py, with an SMTP server",
    "POST /api/attachments": "an upload is read back by its id only: tests/test_attachments.py",
    "GET /api/attachments/{attachment_id:int}/thumbnail": "a PDF has no thumbnail (and it only reads)",
    "POST /api/bots/{bot_id:int}/threads": "the probed bot is in the thread already: tests/test_bots.py",
    "PUT /api/bots/{bot_id:int}/webhook": "its host must resolve to a public address: tests/test_webhooks.py",
    "GET /api/bots/{bot_id:int}/webhook": "the probed bot has no webhook (it only reads): tests/test_webhooks.py",
    "DELETE /api/bots/{bot_id:int}/webhook": "the probed bot has no webhook: tests/test_webhooks.py",
    "POST /api/bots/{bot_id:int}/webhook/enable": "the probed bot has no webhook: tests/test_webhooks.py",
    "GET /api/bots/{bot_id:int}/webhook/deliveries": "the probed bot has no webhook: tests/test_webhooks.py",
    "POST /api/notifications/read": "the caller's own notifications: tests/test_notifications.py",
    "PATCH /api/notifications/settings": "an empty change; the caller's own settings: tests/test_notifications.py",
    "POST /api/push/subscriptions": "the caller's own browsers, from a push service: tests/test_web_push.py",
    "DELETE /api/push/subscriptions": "the caller's own browsers: tests/test_web_push.py",
}


def _with_effects(keys: set[str]) -> None:
    for key in keys & EFFECTS.keys():
        effect = EFFECTS[key]
        read, by = effect if isinstance(effect, tuple) else (effect, None)
        POLICY[key] = dataclasses.replace(POLICY[key], effect=read, effect_by=by)
    for key in keys & NOT_RUN.keys():
        POLICY[key] = dataclasses.replace(POLICY[key], not_run=NOT_RUN[key])


_with_effects(set(POLICY))


def _http(key: str, rule: Rule) -> tuple[str, Rule]:
    return key, rule


def _json(make: Build) -> Build:
    return lambda o: {"json": make(o)}


def _body(fields: dict[str, Any]) -> Build:
    return lambda o: {"json": fields}


def _same_as(op: str, **changes: Any) -> Rule:
    """The HTTP twin of a WebSocket op: the same policy, the request made by ``changes['build']``."""
    return dataclasses.replace(POLICY[f"ws {op}"], **changes)


NO_BODY: Build = lambda o: {}  # noqa: E731 (a table cell)

POLICY.update(
    {
        "GET /api/me": Rule(None, EVERYONE, reads=True),
        # A wrong current password is refused to everyone: nobody changes another's password here.
        "POST /api/me/password": Rule(
            None,
            frozenset(),
            _body({"current_password": "wrong wrong", "new_password": "whatever long"}),
            gated=_gate("forbidden", *ROLES),
        ),
        "GET /api/threads": _same_as("threads", build=lambda o: {"params": {"client_account_id": o["client_account"]}}),
        "POST /api/threads": _same_as("thread.create", build=_json(_new_thread)),
        "GET /api/threads/{thread_id:int}": _same_as("thread.get", build=NO_BODY),
        "GET /api/threads/{thread_id:int}/messages": _same_as("history", build=NO_BODY),
        "POST /api/threads/{thread_id:int}/messages": _same_as(
            "send", build=_json(lambda o: {"body": "probe", "client_msg_id": uuid.uuid4().hex})
        ),
        "POST /api/threads/{thread_id:int}/read": _same_as("read", build=_json(lambda o: {"message_id": o["message"]})),
        "PUT /api/threads/{thread_id:int}/draft": _same_as("draft.save", build=_body({"body": "d"})),
        "GET /api/threads/{thread_id:int}/readers": Rule("thread", IN_THREAD, reads=True),
        "PATCH /api/messages/{message_id:int}": _same_as("edit", build=_body({"body": "x"})),
        "DELETE /api/messages/{message_id:int}": _same_as("delete", build=NO_BODY),
        "GET /api/messages/{message_id:int}/versions": _same_as("message.versions", build=NO_BODY),
        "POST /api/messages/{message_id:int}/ack": _same_as("message.ack", build=NO_BODY),
        "GET /api/messages/{message_id:int}/acks": _same_as("message.acks", build=NO_BODY),
        "POST /api/messages/{message_id:int}/task": _same_as(
            "task.create", build=_json(lambda o: {"assignee_id": o["author"]})
        ),
        "GET /api/folders": _same_as("folders"),
        "POST /api/threads/actions": _same_as(
            "threads.act", build=_json(lambda o: {"thread_ids": [o["thread"]], "action": {"type": "archive"}})
        ),
        "GET /api/tasks": _same_as("tasks", build=lambda o: {"params": {"thread_id": o["thread"], "status": "all"}}),
        "PATCH /api/tasks/{task_id:int}": _same_as("task.update", build=_body({"done": True})),
        "GET /api/tasks/{task_id:int}/history": _same_as("task.history", build=NO_BODY),
        "GET /api/clients/{client_account_id:int}": _same_as("client.card", build=NO_BODY),
        "PUT /api/client-accounts/{client_account_id:int}/fields": Rule(
            "client_account", STAFF, _json(lambda o: {"fields": {"probe": new_id()}}), gated=_gate("not_found", "bot")
        ),
        "GET /api/remarks": _same_as("remarks"),
        "GET /api/firm/settings": _same_as("firm.settings"),
        "PATCH /api/firm/settings": _same_as(
            "firm.settings.update", build=_json(lambda o: {"urgent_renotify_minutes": next(_minutes)})
        ),
        "GET /api/firm/edit-window": Rule(None, EVERYONE, reads=True),
        "PUT /api/firm/edit-window": Rule(None, OWNER, _json(lambda o: {"minutes": next(_minutes)})),
        "GET /api/search": _same_as("search", build=lambda o: {"params": {"q": "probe"}}),
        # A token for someone else: only owners, only for the firm's bots (the probed user is staff).
        "POST /api/tokens": Rule("user", frozenset(), _json(lambda o: {"user_id": o["user"]})),
        "DELETE /api/tokens/{token_id:int}": Rule("token", frozenset()),
        "GET /api/users": Rule(None, OWNER, reads=True),
        "POST /api/users": Rule(
            None,
            OWNER,
            _json(
                lambda o: {
                    "email": f"{uuid.uuid4().hex[:10]}@probe.test",
                    "name": "Probe",
                    "role": "staff",
                    "password": "long enough",
                }
            ),
        ),
        "GET /api/users/{user_id:int}": Rule("user", OWNER, reads=True),
        "PATCH /api/users/{user_id:int}": Rule("user", OWNER, _body({"role": "manager"})),
        "POST /api/attachments": Rule(None, EVERYONE, lambda o: {"files": [("file", ("probe.pdf", PDF))]}),
        "GET /api/attachments/{attachment_id:int}": Rule("attachment", IN_THREAD, reads=True),
        # A PDF has no thumbnail: who sees the file is answered that, which is not an allow to check.
        "GET /api/attachments/{attachment_id:int}/thumbnail": Rule("attachment", IN_THREAD),
        "GET /api/drafts": _same_as("draft.list", build=lambda o: {"params": {"thread_id": o["thread"]}}),
        "GET /api/templates": _same_as("template.list"),
        # Staff make personal templates; the firm's are the owners' and managers'.
        "POST /api/templates": Rule(None, STAFF, _body({"name": "probe", "body": "probe"})),
        "POST /api/templates/preview": _same_as(
            "template.preview", build=_json(lambda o: {"template_id": o["template"]})
        ),
        "PUT /api/templates/default": Rule("template", OWNER, _json(lambda o: {"template_id": o["template"]})),
        "PUT /api/templates/{template_id:int}": Rule("template", OWNER, _body({"name": "probe", "body": "probe"})),
        "DELETE /api/templates/{template_id:int}": Rule("template", OWNER),
        "GET /api/quick-replies": _same_as("quick_reply.list"),
        "POST /api/quick-replies/expand": _same_as(
            "quick_reply.expand", build=_json(lambda o: {"shortcut": "/probe", "thread_id": o["thread"]})
        ),
        "POST /api/bots": Rule(None, OWNER, _body({"name": "probe bot"})),
        "GET /api/bots": Rule(None, OWNER, reads=True),
        "GET /api/bots/{bot_id:int}": Rule("bot", OWNER, reads=True),
        "PATCH /api/bots/{bot_id:int}": Rule("bot", OWNER, _body({"name": "renamed"})),
        "POST /api/bots/{bot_id:int}/tokens": Rule("bot", OWNER, _body({})),
        "GET /api/bots/{bot_id:int}/tokens": Rule("bot", OWNER, reads=True),
        "DELETE /api/bots/{bot_id:int}/tokens/{token_id:int}": Rule("bot", OWNER),
        "POST /api/bots/{bot_id:int}/threads": Rule("bot", OWNER, _json(lambda o: {"thread_id": o["thread"]})),
        "DELETE /api/bots/{bot_id:int}/threads/{thread_id:int}": Rule("bot", OWNER),
        "PUT /api/bots/{bot_id:int}/webhook": Rule("bot", OWNER, _body({"url": "https://hooks.example.test/x"})),
        # The probed bot has no webhook: its owner is told so, which is not an allow to check.
        "GET /api/bots/{bot_id:int}/webhook": Rule("bot", OWNER),
        "DELETE /api/bots/{bot_id:int}/webhook": Rule("bot", OWNER),
        "POST /api/bots/{bot_id:int}/webhook/enable": Rule("bot", OWNER),
        "GET /api/bots/{bot_id:int}/webhook/deliveries": Rule("bot", OWNER),
        "GET /api/people": Rule(
            "author", EVERYONE, lambda o: {"params": {"ids": str(o["author"])}}, reads=True, narrows=True
        ),
        "GET /api/messages": Rule(
            "message", EVERYONE, lambda o: {"params": {"ids": str(o["message"])}}, reads=True, narrows=True
        ),
        "GET /api/scheduled": _same_as("scheduled.list", build=lambda o: {"params": {"thread_id": o["thread"]}}),
        "PATCH /api/scheduled/{scheduled_id:int}": _same_as("scheduled.edit", build=_body({"body": "x"})),
        "DELETE /api/scheduled/{scheduled_id:int}": _same_as("scheduled.cancel", build=NO_BODY),
        "GET /api/notifications": Rule(None, EVERYONE, reads=True),
        "POST /api/notifications/read": Rule(None, EVERYONE, _body({})),
        "GET /api/notifications/settings": Rule(None, EVERYONE, reads=True),
        # Each user's own browsers' push subscriptions.
        "GET /api/push/subscriptions": Rule(None, EVERYONE, reads=True),
        "POST /api/push/subscriptions": Rule(None, EVERYONE, _body({})),
        "DELETE /api/push/subscriptions": Rule(None, EVERYONE, _body({})),
        "PATCH /api/notifications/settings": Rule(None, EVERYONE, _body({})),
        "GET /api/deliveries": Rule(None, STAFF, reads=True),
        "POST /api/deliveries/{delivery_id:int}/retry": Rule("delivery", STAFF),
        "GET /api/me/signature": _same_as("signature.get"),
        "PUT /api/me/signature": Rule(None, STAFF, _json(lambda o: {"signature": f"probe {new_id()}"})),
        "GET /api/firm/signature": Rule(None, OWNER, reads=True),
        "PUT /api/firm/signature": Rule(None, OWNER, _json(lambda o: {"signature": f"probe {new_id()}"})),
        "POST /api/bulk-sends": _same_as(
            "bulk.send",
            build=_json(
                lambda o: {
                    "key": uuid.uuid4().hex,
                    "client_account_ids": [o["client_account"]],
                    "subject": "probe",
                    "body": "probe",
                }
            ),
        ),
        "GET /api/bulk-sends/{bulk_id:int}": _same_as("bulk.get", build=NO_BODY),
        "GET /api/firm/business-hours": _same_as("business_hours"),
        "PUT /api/firm/business-hours": _same_as(
            "business_hours.set", build=_json(lambda o: {"time_zone": next(_zones)})
        ),
        "GET /api/threads/{thread_id:int}/reminders": _same_as("reminders.get", build=NO_BODY),
        "PUT /api/threads/{thread_id:int}/reminders": _same_as("reminders.set", build=_body({"enabled": True})),
        "POST /api/threads/{thread_id:int}/reminders/resend": _same_as("reminders.resend", build=NO_BODY),
        "POST /api/threads/{thread_id:int}/recurring": _same_as(
            "recurring.create", build=_body({"body": "probe", "rule": "0 9 * * mon"})
        ),
        "GET /api/recurring": _same_as("recurring.list", build=lambda o: {"params": {"thread_id": o["thread"]}}),
        "PATCH /api/recurring/{recurring_id:int}": _same_as("recurring.update", build=_body({"paused": True})),
        "DELETE /api/recurring/{recurring_id:int}": _same_as("recurring.cancel", build=NO_BODY),
        # Generated emails (docs/generated_emails.md): staff use them, owners and managers set the
        # rules.
        "GET /api/client-events": Rule(None, STAFF, reads=True),
        "POST /api/client-events": Rule(
            "client_account",
            STAFF,
            _json(
                lambda o: {
                    "client_account_id": o["client_account"],
                    "kind": "arrival",
                    "date": "2031-01-01",
                    "reference": new_id(),
                }
            ),
            gated=_gate("not_found", "bot"),
        ),
        "POST /api/client-events/import": Rule(
            None,
            STAFF,
            lambda o: {
                "content": f"client_id,kind,date,reference\n{o['client_account']},arrival,2031-02-01,{new_id()}\n",
                "headers": {"Content-Type": "text/csv"},
            },
        ),
        "GET /api/client-events/kinds": Rule(None, STAFF, reads=True),
        "POST /api/client-events/kinds": Rule(
            None,
            MANAGERS,
            _json(lambda o: {"name": f"probe_{new_id()[:8]}", "label": "Probe"}),
            gated=_gate("forbidden", "staff"),
        ),
        "DELETE /api/client-events/{event_id:int}": Rule("client_event", STAFF),
        "GET /api/automatic-emails/rules": Rule(None, STAFF, reads=True),
        "POST /api/automatic-emails/rules": Rule(
            None,
            MANAGERS,
            _json(lambda o: {"name": "probe", "event_kind": "arrival", "days": 1, "template_id": o["firm_template"]}),
            gated=_gate("forbidden", "staff"),
        ),
        "PATCH /api/automatic-emails/rules/{rule_id:int}": Rule(
            "rule", MANAGERS, _body({"active": False}), gated=_gate("forbidden", "staff")
        ),
        "POST /api/automatic-emails/rules/{rule_id:int}/send-all": Rule("rule", STAFF),
        "GET /api/automatic-emails/settings": Rule(None, STAFF, reads=True),
        "PATCH /api/automatic-emails/settings": Rule(
            None, MANAGERS, _json(lambda o: {"run_hour": next(_hours)}), gated=_gate("forbidden", "staff")
        ),
        "GET /api/automatic-emails/drafts": Rule(None, STAFF, reads=True),
        "GET /api/automatic-emails/drafts/{draft_id:int}": Rule("email_draft", STAFF, reads=True),
        "PATCH /api/automatic-emails/drafts/{draft_id:int}": Rule("email_draft", STAFF, _body({"body": "x"})),
        "POST /api/automatic-emails/drafts/{draft_id:int}/send": Rule("email_draft", STAFF, _body({})),
    }
)
_with_effects({key for key in POLICY if not key.startswith("ws ")})
PATH_IDS = {
    "thread_id": "thread",
    "message_id": "message",
    "task_id": "task",
    "client_account_id": "client_account",
    "template_id": "template",
    "attachment_id": "attachment",
    "bot_id": "bot",
    "user_id": "user",
    "scheduled_id": "scheduled",
    "delivery_id": "delivery",
    "event_id": "client_event",
    "rule_id": "rule",
    "draft_id": "email_draft",
    "bulk_id": "bulk",
    "recurring_id": "recurring",
}


def _routes() -> set[str]:
    app = create_app(Settings.from_env({"CHATD_DATA_DIR": "/nonexistent-chatd-policy"}))
    return {
        f"{method} {route.path}"
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }


def _ops() -> set[str]:
    return {f"ws {cls.__struct_config__.tag}" for cls in typing.get_args(ClientFrame)}


def test_the_policy_names_every_op_and_route() -> None:
    actions = _ops() | _routes()
    assert set(POLICY) | PUBLIC == actions, {
        "without a policy": sorted(actions - set(POLICY) - PUBLIC),
        "no such action": sorted((set(POLICY) | PUBLIC) - actions),
    }


@dataclass
class Principal:
    role: str
    token: str
    ws: WsClient | None = None


@dataclass
class World:
    principals: dict[str, Principal]
    # Object ids of the firm the roles belong to ("same"), and of the other firm ("other").
    same: Ids
    other: Ids
    # Fresh objects of the roles' firm, for a write that changes them.
    fresh: Callable[[], Awaitable[Ids]]


async def _people(firm: Firm) -> tuple[dict[str, User], dict[str, str]]:
    """One of each role of a firm, with a token each."""
    users = {
        "owner": await firm.user(Role.OWNER),
        "manager": await firm.user(Role.MANAGER),
        "staff": await firm.user(Role.STAFF),
        "client": await firm.user(Role.CLIENT),
        "client2": await firm.user(Role.CLIENT),
        "bot": await firm.user(Role.BOT),
        "author": await firm.user(Role.STAFF),
    }
    return users, {name: await firm.token(user) for name, user in users.items()}


async def _objects(firm: Firm, users: dict[str, User], tokens: dict[str, str], server: ChatdProcess) -> Ids:
    """One of each object in the firm, made by "author" (a staff member none of the roles is) or by
    the owner; the bot joins the thread. Called again for fresh objects an allowed write may change."""
    target = await firm.user(Role.STAFF)
    author = await WsClient.connect(server.ws_url, tokens["author"])
    opened = await author.ok(
        "thread.create",
        subject="Policy",
        body="policy opening",
        client_msg_id=new_id(),
        client_account_id=users["client"].client_account_id,
    )
    thread, opening = opened["thread"]["id"], opened["message"]["id"]
    asking = await author.ok(
        "send", thread_id=thread, body="please confirm", client_msg_id=new_id(), urgent=True, ack_requested=True
    )
    message = asking["message"]["id"]
    client_account = users["client"].client_account_id or 0
    ids: Ids = {
        "thread": thread,
        "message": message,
        "client_account": client_account,
        "author": users["author"].id,
        "user": target.id,
        "bot": users["bot"].id,
    }
    ids["task"] = (await author.ok("task.create", message_id=opening, assignee_id=users["author"].id))["task"]["id"]
    scheduled = await author.ok("send", thread_id=thread, body="later", client_msg_id=new_id(), send_at=_later())
    ids["scheduled"] = scheduled["scheduled"]["id"]
    recurring = await author.ok("recurring.create", thread_id=thread, body="weekly", rule="0 9 * * mon")
    ids["recurring"] = recurring["recurring"]["id"]
    bulk = await author.ok(
        "bulk.send", key=new_id(), client_account_ids=[client_account], subject="Bulk", body="To all"
    )
    ids["bulk"] = bulk["bulk"]["id"]
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        as_author = {"Authorization": f"Bearer {tokens['author']}"}
        as_owner = {"Authorization": f"Bearer {tokens['owner']}"}
        uploaded = await http.post("/api/attachments", headers=as_author, files=[("file", ("a.pdf", PDF))])
        ids["attachment"] = uploaded.json()["attachments"][0]["id"]
        await author.ok(
            "send", thread_id=thread, body="with a file", client_msg_id=new_id(), attachment_ids=[ids["attachment"]]
        )
        template = await http.post("/api/templates", headers=as_owner, json={"name": "t", "body": "Hello"})
        ids["template"] = template.json()["template"]["id"]
        shared = {"name": "f", "body": "Hello", "scope": "firm"}
        ids["firm_template"] = (await http.post("/api/templates", headers=as_owner, json=shared)).json()["template"][
            "id"
        ]
        joined = await http.post(f"/api/bots/{ids['bot']}/threads", headers=as_owner, json={"thread_id": thread})
        assert joined.status_code < 300, joined.text
        ids["bot_token"] = (await http.post(f"/api/bots/{ids['bot']}/tokens", headers=as_owner, json={})).json()["id"]
        ids["token"] = (await http.post("/api/tokens", headers=as_author, json={})).json()["id"]
        event = await http.post(
            "/api/client-events",
            headers=as_author,
            json={"client_account_id": client_account, "kind": "arrival", "date": "2030-01-01", "reference": new_id()},
        )
        ids["client_event"] = event.json()["event"]["id"]
        rule = await http.post(
            "/api/automatic-emails/rules",
            headers=as_owner,
            json={"name": "Welcome", "event_kind": "arrival", "days": -1, "template_id": ids["firm_template"]},
        )
        assert rule.status_code == 201, rule.text
        ids["rule"] = rule.json()["rule"]["id"]
    ids["email_draft"] = await _draft(firm, ids)
    ids["delivery"] = await _failed_delivery(firm)
    await author.close()
    return ids


async def _draft(firm: Firm, ids: Ids) -> int:
    """A pending draft of the rule for the event, as the daily job makes them (the job runs on the
    firm's clock; the storage verb it uses is called directly instead)."""
    services = firm.services
    now = services.clock.now()
    async with services.db.write() as conn:
        events = await genmail_store.list_events(
            conn, firm.id, client_account_id=None, kind=None, after=None, limit=500
        )
        (event,) = [e for e in events if e.id == ids["client_event"]]
        # False when the daily job, armed by the rule, made it first: either way the rule has one.
        await genmail_store.insert_draft(
            conn,
            firm.id,
            rule_id=ids["rule"],
            event=event,
            for_date=date(2029, 12, 31),
            subject="Welcome",
            body="Hello",
            unknown=[],
            now=now,
        )
        drafts = await genmail_store.list_drafts(conn, firm.id, rule_id=ids["rule"], state="pending", limit=500)
    return max(d.id for d in drafts)


async def _failed_delivery(firm: Firm) -> int:
    """A delivery of the firm that failed for good (a web push to a subscription gone meanwhile:
    retried, it is done at once)."""
    services = firm.services
    now = services.clock.now()
    async with services.db.write() as conn:
        item = await due_store.schedule(
            conn, kind=PUSH_KIND, due_at=now + timedelta(days=1), now=now, firm_id=firm.id, ref_id=MISSING
        )
        await due_store.record_failure(conn, item, "probe: gone", retry_at=None, now=now)
    return item.id


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(services: Services, server: ChatdProcess) -> AsyncIterator[World]:
    """Made once for the module: the rows run what must be refused on these objects, and what is
    allowed on fresh ones."""
    firm = await new_firm(services, "Policy firm")
    other = await new_firm(services, "Other policy firm")
    users, tokens = await _people(firm)
    other_users, other_tokens = await _people(other)
    same = await _objects(firm, users, tokens, server)
    other_ids = await _objects(other, other_users, other_tokens, server)
    tokens["other_staff"], tokens["other_client"] = other_tokens["staff"], other_tokens["client"]
    principals = {
        role: Principal(role, tokens[role], await WsClient.connect(server.ws_url, tokens[role])) for role in ROLES
    }
    yield World(principals, same, other_ids, lambda: _objects(firm, users, tokens, server))
    for principal in principals.values():
        assert principal.ws is not None
        await principal.ws.close()


@dataclass(frozen=True)
class Answer:
    ok: bool
    code: str | None
    # What the caller sees, less the request id: compared byte for byte.
    content: bytes


def _path(key: str, ids: Ids) -> tuple[str, str]:
    method, path = key.split(" ", 1)
    for name, kind in PATH_IDS.items():
        path = path.replace(f"{{{name}:int}}", str(ids[kind]))
    token_kind = "bot_token" if path.startswith("/api/bots/") else "token"
    return method, path.replace("{token_id:int}", str(ids[token_kind]))


async def _act(principal: Principal, key: str, rule: Rule, ids: Ids, http: httpx.AsyncClient) -> Answer:
    request = rule.build(ids)
    if key.startswith("ws "):
        assert principal.ws is not None
        answer = await principal.ws.call(key.removeprefix("ws "), **request)
        while answer.get("code") == "rate_limited":
            await principal.ws.quiet(answer["retry_after"])
            answer = await principal.ws.call(key.removeprefix("ws "), **request)
        answer.pop("id", None)
        return _per_thread(Answer(answer["op"] == "ok", answer.get("code"), msgspec.json.encode(answer)))
    method, path = _path(key, ids)
    headers = {"Authorization": f"Bearer {principal.token}", **request.pop("headers", {})}
    response = await http.request(method, path, headers=headers, **request)
    code = None
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        code = response.json()["error"]["code"]
    return _per_thread(Answer(response.status_code < 300, code, response.content))


def _per_thread(answer: Answer) -> Answer:
    """An action on a selection of threads answers per thread: one refused thread is a refusal."""
    if not answer.ok or b'"results"' not in answer.content:
        return answer
    decoded = msgspec.json.decode(answer.content)
    results = (decoded.get("result") or decoded)["results"]
    refused = [r for r in results if not r.get("ok", True)]
    return Answer(False, refused[0]["error"]["code"], answer.content) if refused else answer


_missing_ids = itertools.count(MISSING)


async def _as_missing(principal: Principal, key: str, rule: Rule, ids: Ids, http: httpx.AsyncClient) -> Answer:
    """The answer for ``ids``, after checking it is byte for byte the answer for a missing id."""
    assert rule.obj is not None
    # A fresh missing id each time: some answers depend on what was asked before (typing's throttle).
    missing_id = next(_missing_ids)
    seen = await _act(principal, key, rule, ids, http)
    missing = await _act(principal, key, rule, {**ids, rule.obj: missing_id}, http)
    expected = missing.content.replace(str(missing_id).encode(), str(ids[rule.obj]).encode())
    assert seen.content == expected, (principal.role, key, seen.content, missing.content)
    return seen


def _refusal(role: str, rule: Rule, *, sees: bool = True) -> str:
    """The code ``role`` is refused with; ``sees``: whether the object is one the role can see."""
    if rule.gate_after_lookup and not sees:
        return "not_found"
    base = {"other_staff": "staff", "other_client": "client"}.get(role, role)
    return rule.gated.get(base, "not_found")


async def _check_object_action(
    principal: Principal, key: str, rule: Rule, ids: Ids, allowed: bool, http: httpx.AsyncClient, *, sees: bool
) -> None:
    code = _refusal(principal.role, rule, sees=sees)
    if allowed:
        if rule.reads:
            answer = await _act(principal, key, rule, ids, http)
            assert answer.ok, (principal.role, key, answer.content)
        return
    if rule.gate_after_lookup and sees and code != "not_found":
        # The role sees this object, so saying it may not do this tells it nothing new.
        seen = await _act(principal, key, rule, ids, http)
    else:
        seen = await _as_missing(principal, key, rule, ids, http)
    if rule.narrows and code == "not_found":
        return  # a list narrowed to nothing, as for a missing id
    assert not seen.ok, (principal.role, key, "allowed", seen.content)
    assert seen.code == code, (principal.role, key, seen.content)


@pytest.mark.parametrize("key", sorted(POLICY))
async def test_every_role_on_every_object(key: str, world: World, server: ChatdProcess) -> None:
    rule = POLICY[key]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        for role, principal in world.principals.items():
            outsider = role.startswith("other_")
            if rule.obj is not None:
                # Another firm's object, as each role of the firm sees it (and the firm's object as
                # the other firm's people see it): no more than a missing id tells.
                elsewhere = world.same if outsider else world.other
                await _check_object_action(principal, key, rule, elsewhere, False, http, sees=False)
                if not outsider:
                    allowed = role in rule.allowed
                    await _check_object_action(principal, key, rule, world.same, allowed, http, sees=role in IN_THREAD)
                continue
            if outsider:
                continue  # an action on no object: another firm's people are as this firm's
            answer = await _act(principal, key, rule, world.same, http)
            if role in rule.allowed:
                assert answer.ok or not rule.reads, (role, key, answer.content)
            else:
                assert not answer.ok, (role, key, "allowed", answer.content)
                assert answer.code == _refusal(role, rule), (role, key, answer.content)


IN_FIRM = frozenset(ROLES) - {"other_staff", "other_client"}
WRITES = sorted(key for key, rule in POLICY.items() if not rule.reads and rule.allowed & IN_FIRM)


def test_every_allowed_write_names_its_effect() -> None:
    """A write some role may do is run by each of them and its effect read back, or the table says why not."""
    unchecked = [key for key in WRITES if not POLICY[key].effect and not POLICY[key].not_run]
    assert unchecked == [], unchecked
    for key in WRITES:
        effect = POLICY[key].effect
        assert effect is None or POLICY[effect].reads, (key, effect)


@pytest.mark.parametrize("key", [key for key in WRITES if POLICY[key].effect])
async def test_every_allowed_write_takes_effect(key: str, world: World, server: ChatdProcess) -> None:
    """Each role the table allows does the write, on objects of its own (fresh ones, so one role's
    write does not spoil the next one's), and the read the table names shows the change."""
    rule = POLICY[key]
    assert rule.effect is not None
    effect = POLICY[rule.effect]
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        for role in sorted(rule.allowed & IN_FIRM):
            ids = await world.fresh()
            reader = world.principals[rule.effect_by or role]
            before = await _act(reader, rule.effect, effect, ids, http)
            answer = await _act(world.principals[role], key, rule, ids, http)
            assert answer.ok, (role, key, answer.content)
            # Some writes take effect in a job of the server's (a bulk send, a retried delivery).
            deadline = loop.time() + 15
            while (after := await _act(reader, rule.effect, effect, ids, http)).content == before.content:
                assert loop.time() < deadline, (role, key, "no effect on", rule.effect, before.content)
                await asyncio.sleep(0.1)
            assert after.ok or rule.effect_by, (role, key, after.content)


async def test_anonymous_and_deactivated_callers_get_nothing(
    services: Services, server: ChatdProcess, world: World
) -> None:
    firm = await new_firm(services, "Deactivated firm")
    gone = await firm.user(Role.STAFF)
    gone_token = await firm.token(gone)
    await services.team.set_active(gone.id, False)
    callers = {"anonymous": {}, "deactivated": {"Authorization": f"Bearer {gone_token}"}}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        for key, rule in sorted(POLICY.items()):
            if key.startswith("ws "):
                continue
            method, path = _path(key, world.same)
            answers = {}
            for who, headers in callers.items():
                request = rule.build(world.same)
                request["headers"] = headers | request.get("headers", {})
                answers[who] = await http.request(method, path, **request)
            assert answers["anonymous"].status_code == answers["deactivated"].status_code == 401, key
            assert answers["anonymous"].content == answers["deactivated"].content, key
    for headers in callers.values():
        with pytest.raises(websockets.InvalidStatus) as denied:
            await websockets.connect(server.ws_url, additional_headers=headers)
        assert denied.value.response.status_code == 403


async def test_membership_removed_while_offline_replays_nothing_after(
    services: Services, server: ChatdProcess, connect: Connect
) -> None:
    firm = await new_firm(services, "Membership firm")
    owner, author, client = await firm.user(Role.OWNER), await firm.user(Role.STAFF), await firm.user(Role.CLIENT)
    bot = await firm.user(Role.BOT)
    writer = await connect(await firm.token(author))
    opened = await writer.ok(
        "thread.create",
        subject="Members",
        body="hello",
        client_msg_id=new_id(),
        client_account_id=client.client_account_id,
    )
    thread = opened["thread"]["id"]
    bot_token = await firm.token(bot)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {await firm.token(owner)}"}
    ) as http:
        assert (await http.post(f"/api/bots/{bot.id}/threads", json={"thread_id": thread})).status_code < 300
        member = await connect(bot_token)
        seen = (await member.ok("send", thread_id=thread, body="bot here", client_msg_id=new_id()))["message"]["id"]
        await member.event("message.created", message__id=seen)
        last = member.events[-1]["event_id"]
        await member.close()
        assert (await http.delete(f"/api/bots/{bot.id}/threads/{thread}")).status_code < 300
    after = [
        (await writer.ok("send", thread_id=thread, body=f"after {n}", client_msg_id=new_id()))["message"]["id"]
        for n in range(3)
    ]
    back = await connect(bot_token)
    replayed = (await back.ok("resume", after_event_id=last))["replayed"]
    got = [e for e in back.events if e["type"].startswith("message.")]
    assert got == [], got
    assert replayed == 0
    assert (await back.call("history", thread_id=thread))["code"] == "not_found"
    assert all(t["id"] != thread for t in (await back.ok("threads"))["threads"])
    await writer.ok("send", thread_id=thread, body="live after", client_msg_id=new_id())
    assert await back.quiet(0.3, "message.created") == []
    assert after  # the firm kept writing
