"""Protocol v1 as machine-readable documents, generated from the schemas in this package:

- JSON Schemas of every frame and value (``msgspec.json.schema_components``),
- an AsyncAPI 3 document of the ``/ws`` channel that references them,
- test vectors: the same frames in JSON and in msgpack (hex), for any client to check its codec.

``python -m protocol.spec`` writes them (see ``OUTPUTS``); a test fails when the committed files
drift from what this module generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal, get_args

import msgspec

from protocol.codec import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import (
    EVENT_TYPES,
    ClientFrame,
    Delete,
    Edit,
    Error,
    Event,
    Hello,
    History,
    Ok,
    Ping,
    Read,
    Resume,
    Send,
    ServerFrame,
    ThreadCreate,
    Threads,
    Typing,
)
from protocol.values import (
    BulkResult,
    BulkSend,
    Message,
    MessageKind,
    Notification,
    ReadReceipt,
    Role,
    ScheduledMessage,
    Task,
    Thread,
    User,
)

ROOT = Path(__file__).resolve().parent.parent
REF = "#/components/schemas/{name}"


class MessageEventData(msgspec.Struct, kw_only=True):
    """``data`` of message.created, message.updated and message.deleted."""

    message: Message


class ThreadEventData(msgspec.Struct, kw_only=True):
    """``data`` of thread.created and thread.updated."""

    thread: Thread


class ScheduledEventData(msgspec.Struct, kw_only=True):
    """``data`` of scheduled.updated."""

    scheduled: ScheduledMessage


class NotificationEventData(msgspec.Struct, kw_only=True):
    """``data`` of notification (only to the user it is for)."""

    notification: Notification


class MentionEventData(msgspec.Struct, kw_only=True):
    """``data`` of mention (only to the teammate mentioned): the message that mentions them."""

    message: Message
    author_id: int


class BulkProgressData(msgspec.Struct, kw_only=True):
    """``data`` of bulk.progress (ephemeral, to the requester only); ``results`` on the last one."""

    bulk: BulkSend
    results: list[BulkResult] | None = None


class TypingEventData(msgspec.Struct, kw_only=True):
    """``data`` of typing (ephemeral: no event_id)."""

    thread_id: int
    user_id: int
    kind: MessageKind = MessageKind.MESSAGE


class PresenceEventData(msgspec.Struct, kw_only=True):
    """``data`` of presence (ephemeral: no event_id; to staff only)."""

    user_id: int
    status: Literal["online", "offline"]


class ThreadUnreadData(msgspec.Struct, kw_only=True):
    """``data`` of thread.unread (to the user who marked the thread unread)."""

    thread_id: int
    unread: int


class ThreadDeletedData(msgspec.Struct, kw_only=True):
    """``data`` of thread.deleted."""

    thread_id: int


class MessageAckedData(msgspec.Struct, kw_only=True):
    """``data`` of message.acked."""

    thread_id: int
    message_id: int
    user_id: int
    at: str


class TaskEventData(msgspec.Struct, kw_only=True):
    """``data`` of task.updated."""

    task: Task


# The data shape of each event type; a type without one here is documented as a free-form map.
EVENT_DATA: dict[str, type[msgspec.Struct]] = {
    "message.created": MessageEventData,
    "message.updated": MessageEventData,
    "message.deleted": MessageEventData,
    "read": ReadReceipt,
    "thread.created": ThreadEventData,
    "thread.updated": ThreadEventData,
    "typing": TypingEventData,
    "presence": PresenceEventData,
    "scheduled.updated": ScheduledEventData,
    "notification": NotificationEventData,
    "mention": MentionEventData,
    "bulk.progress": BulkProgressData,
    "thread.unread": ThreadUnreadData,
    "thread.deleted": ThreadDeletedData,
    "message.acked": MessageAckedData,
    "task.updated": TaskEventData,
}

# Every request frame of the union, so an op added to ClientFrame is documented without an edit here.
_CLIENT_FRAMES: tuple[type[msgspec.Struct], ...] = get_args(ClientFrame)


def json_schemas() -> dict[str, Any]:
    """One JSON Schema (2020-12) document: ``ClientFrame`` and ``ServerFrame`` and every part they use."""
    data_types = sorted(set(EVENT_DATA.values()), key=lambda t: t.__name__)
    roots, components = msgspec.json.schema_components(
        [ClientFrame, ServerFrame, *data_types], ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "chatd.v1.schema.json",
        "title": "chatd protocol v1 frames",
        "description": "Frames of chatd protocol v1 (docs/protocol.md). Same fields in JSON and msgpack.",
        "$defs": {**dict(sorted(components.items())), "ClientFrame": roots[0], "ServerFrame": roots[1]},
    }


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the ``/ws`` channel."""
    data_types = sorted(set(EVENT_DATA.values()), key=lambda t: t.__name__)
    _, components = msgspec.json.schema_components([ClientFrame, ServerFrame, *data_types], ref_template=REF)
    schemas = dict(sorted(components.items()))
    messages: dict[str, Any] = {}
    for frame in _CLIENT_FRAMES:
        op = str(frame.__struct_config__.tag)
        messages[_message_name("request", op)] = _message(f"request `{op}`", frame.__name__, frame.__doc__)
    for frame in (Hello, Ok, Error):
        op = str(frame.__struct_config__.tag)
        messages[op] = _message(f"`{op}` frame", frame.__name__, frame.__doc__)
    for event_type in EVENT_TYPES:
        name = _message_name("event", event_type)
        schemas[name] = _event_schema(event_type)
        messages[name] = _message(f"event `{event_type}`", name, None)
    channel_messages = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    client_names = [_message_name("request", str(f.__struct_config__.tag)) for f in _CLIENT_FRAMES]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "chatd protocol",
            "version": "1",
            "description": (
                "Real-time messaging between a firm and its clients (docs/protocol.md). Authenticate at the "
                "handshake with `Authorization: Bearer <token>` (or the browser's session cookie). Frames are "
                f"one JSON object per text frame on subprotocol `{JSON_SUBPROTOCOL}`, or one msgpack map per "
                f"binary frame on `{MSGPACK_SUBPROTOCOL}`. Error codes: "
                + ", ".join(f"`{c.value}`" for c in ErrorCode)
                + ". Close codes: "
                + ", ".join(f"{c.value} ({c.name.lower()})" for c in CloseCode)
                + "."
            ),
        },
        "servers": {
            "local": {"host": "127.0.0.1:8000", "protocol": "ws", "pathname": "/ws", "description": "chatd serve"}
        },
        "defaultContentType": "application/json",
        "channels": {
            "ws": {
                "address": "/ws",
                "title": "The chatd WebSocket",
                "messages": channel_messages,
                "bindings": {
                    "ws": {
                        "headers": {
                            "type": "object",
                            "properties": {
                                "Authorization": {"type": "string", "description": "Bearer chatd_..."},
                                "Sec-WebSocket-Protocol": {"enum": [JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL]},
                            },
                        }
                    }
                },
            }
        },
        "operations": {
            "sendRequest": {
                "action": "send",
                "title": "Client requests; each with an id gets exactly one ok or error",
                "channel": {"$ref": "#/channels/ws"},
                "messages": [{"$ref": f"#/channels/ws/messages/{name}"} for name in client_names],
            },
            "receiveFrame": {
                "action": "receive",
                "title": "hello first, then answers and events",
                "channel": {"$ref": "#/channels/ws"},
                "messages": [
                    {"$ref": f"#/channels/ws/messages/{name}"} for name in channel_messages if name not in client_names
                ],
            },
        },
        "components": {"messages": messages, "schemas": schemas},
    }


def vectors() -> list[dict[str, Any]]:
    """Frames in both encodings. Client vectors decode to the given frame; server vectors are
    exactly what the server's codec writes (msgspec's canonical output, fields in schema order)."""
    user = User(id=7, firm_id=1, name="FAQ bot", email="faq@bots.example", role=Role.BOT)
    message = Message(
        id=42,
        thread_id=3,
        author_id=7,
        kind=MessageKind.MESSAGE,
        body="Bonjour, voici la réponse ✓",
        created_at="2026-11-22T09:30:00.000Z",
        client_msg_id="c-1",
    )
    thread = Thread(
        id=3,
        subject="Déclaration 2026",
        client_account_id=5,
        created_at="2026-11-20T08:00:00.000Z",
        last_message_id=42,
        last_activity_at="2026-11-22T09:30:00.000Z",
        unread=1,
    )
    client: list[tuple[str, msgspec.Struct]] = [
        ("send", Send(id=1, thread_id=3, body="Bonjour ✓", client_msg_id="c-1")),
        ("send a note", Send(id="r-2", thread_id=3, body="internal", client_msg_id="c-2", kind=MessageKind.NOTE)),
        ("edit", Edit(id=3, message_id=42, body="fixed")),
        ("delete", Delete(id=4, message_id=42)),
        ("typing", Typing(thread_id=3)),
        ("read", Read(id=5, thread_id=3, message_id=42)),
        ("history", History(id=6, thread_id=3, before=42, limit=20)),
        ("threads", Threads(id=7, cursor="40", limit=10)),
        ("thread.create", ThreadCreate(id=8, subject="New", body="Hi", client_msg_id="c-3", participants=[7])),
        ("resume", Resume(id=9, after_event_id=1000)),
        ("ping", Ping(id=10)),
    ]
    server: list[tuple[str, msgspec.Struct]] = [
        ("hello", Hello(user=user, event_id=1000, heartbeat_s=20, limits={"max_frame_bytes": 65536})),
        ("ok with a message", Ok(id=1, result={"message": msgspec.to_builtins(message)})),
        ("ok, empty", Ok(id=5, result={})),
        ("error", Error(id=6, code=ErrorCode.NOT_FOUND.value, message="thread 3 not found")),
        ("rate limited", Error(id=7, code=ErrorCode.RATE_LIMITED.value, message="slow down", retry_after=0.25)),
        (
            "message.created",
            Event(type="message.created", event_id=1001, data={"message": msgspec.to_builtins(message)}),
        ),
        ("thread.created", Event(type="thread.created", event_id=1002, data={"thread": msgspec.to_builtins(thread)})),
        ("typing", Event(type="typing", data={"thread_id": 3, "user_id": 9, "kind": "message"})),
        ("presence", Event(type="presence", data={"user_id": 9, "status": "online"})),
    ]
    return [_vector("client", name, frame) for name, frame in client] + [
        _vector("server", name, frame) for name, frame in server
    ]


def _vector(direction: str, name: str, frame: msgspec.Struct) -> dict[str, Any]:
    return {
        "name": name,
        "direction": direction,
        "json": msgspec.json.encode(frame).decode(),
        "msgpack_hex": msgspec.msgpack.encode(frame).hex(),
    }


def _message(title: str, schema: str, doc: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"name": schema, "title": title, "payload": {"$ref": REF.format(name=schema)}}
    if doc:
        message["summary"] = " ".join(doc.split())
    return message


def _message_name(kind: str, op: str) -> str:
    parts = op.replace(".", "_").split("_")
    return kind.title() + "".join(part.title() for part in parts)


# Events never stored, so without an event_id.
_EPHEMERAL = frozenset({"typing", "presence"})


def _event_schema(event_type: str) -> dict[str, Any]:
    data = EVENT_DATA.get(event_type)
    return {
        "title": f"event {event_type}",
        "type": "object",
        "properties": {
            "op": {"enum": ["event"]},
            "type": {"enum": [event_type]},
            "event_id": {"type": "null"} if event_type in _EPHEMERAL else {"type": "integer"},
            "data": {"$ref": REF.format(name=data.__name__)} if data else {"type": "object"},
        },
        "required": ["op", "type", "data"],
    }


def render(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


# Where each document is committed: generated, never edited by hand.
OUTPUTS: dict[str, Any] = {
    "protocol/spec/asyncapi.json": asyncapi,
    "protocol/spec/chatd.v1.schema.json": json_schemas,
    "protocol/spec/vectors.json": vectors,
    "docs/protocol/asyncapi.json": asyncapi,
    "docs/protocol/chatd.v1.schema.json": json_schemas,
}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for relative, build in OUTPUTS.items():
        path = ROOT / relative
        text = render(build())
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(relative)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {relative}")
    if stale:
        print("out of date (run python -m protocol.spec):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
