"""protocol/ is Sans-I/O: bytes in, typed frames out. Tested by feeding it bytes."""

from __future__ import annotations

import msgspec
import pytest

from protocol import ErrorCode, ProtocolError, codec_for
from protocol.codec import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL
from protocol.frames import OPS, Error, Event, Hello, Ok, Send, ThreadCreate
from protocol.values import Message, MessageKind, Role, User

JSON = codec_for(JSON_SUBPROTOCOL)
MSGPACK = codec_for(MSGPACK_SUBPROTOCOL)


def _both(frame: dict[str, object]) -> list[tuple[object, str | bytes]]:
    return [(JSON, msgspec.json.encode(frame).decode()), (MSGPACK, msgspec.msgpack.encode(frame))]


def test_the_two_codecs_decode_the_same_request() -> None:
    frame = {"op": "send", "id": 3, "thread_id": 9, "body": "Bonjour", "client_msg_id": "k1", "kind": "note"}
    decoded = [codec.decode(payload) for codec, payload in _both(frame)]  # type: ignore[attr-defined]
    assert (
        decoded[0] == decoded[1] == Send(id=3, thread_id=9, body="Bonjour", client_msg_id="k1", kind=MessageKind.NOTE)
    )


def test_every_op_is_known_and_defaults_apply() -> None:
    core = {"send", "edit", "delete", "typing", "read", "history", "threads", "thread.create", "resume", "ping"}
    inbox = {"thread.get", "folders", "threads.act", "message.ack", "message.acks", "task.create", "task.update"}
    inbox |= {"tasks", "task.history", "client.card", "remarks", "firm.settings", "firm.settings.update", "search"}
    scheduled = {"scheduled.list", "scheduled.edit", "scheduled.cancel"}
    assert core | inbox | scheduled <= OPS
    create = JSON.decode('{"op": "thread.create", "subject": "s", "body": "b", "client_msg_id": "k"}')
    assert create == ThreadCreate(subject="s", body="b", client_msg_id="k")
    assert create.id is None
    assert create.participants == []


@pytest.mark.parametrize(
    ("frame", "code", "request_id"),
    [
        ({"op": "nope", "id": 1}, ErrorCode.UNKNOWN_OP, 1),
        ({"op": "send", "id": "a"}, ErrorCode.BAD_REQUEST, "a"),
        ({"op": "ping", "id": 2, "x": 1}, ErrorCode.BAD_REQUEST, 2),
        ({"op": "history", "id": 4, "thread_id": 0}, ErrorCode.BAD_REQUEST, 4),
        ({"op": "resume", "id": 5, "after_event_id": -1}, ErrorCode.BAD_REQUEST, 5),
        ({"op": "ping", "id": 1.5}, ErrorCode.BAD_REQUEST, None),
        ({"op": "ping", "id": "x" * 65}, ErrorCode.BAD_REQUEST, None),
        ({"id": 6}, ErrorCode.BAD_REQUEST, 6),
    ],
)
def test_bad_requests_name_the_code_and_keep_the_id(
    frame: dict[str, object], code: ErrorCode, request_id: object
) -> None:
    for codec, payload in _both(frame):
        with pytest.raises(ProtocolError) as raised:
            codec.decode(payload)  # type: ignore[attr-defined]
        assert raised.value.code is code
        assert raised.value.request_id == request_id


@pytest.mark.parametrize("payload", ["", "{", "\x00", "null", "[]", "1e999999"])
def test_undecodable_text_is_a_bad_request(payload: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        JSON.decode(payload)
    assert raised.value.code is ErrorCode.BAD_REQUEST


def test_frames_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(ProtocolError):
        JSON.decode(b'{"op": "ping"}')
    with pytest.raises(ProtocolError):
        MSGPACK.decode('{"op": "ping"}')


def test_deeply_nested_input_is_refused_cleanly() -> None:
    deep = '{"op": "ping", "id": 1, "x": ' + "[" * 10_000 + "]" * 10_000 + "}"
    with pytest.raises(ProtocolError):
        JSON.decode(deep)


def test_server_frames_encode_to_the_same_maps() -> None:
    user = User(id=1, firm_id=1, name="Ann", email="a@x.test", role=Role.STAFF)
    message = Message(
        id=7, thread_id=2, author_id=1, kind=MessageKind.MESSAGE, body="hi", created_at="2026-01-01T00:00:00.000Z"
    )
    frames = [
        Hello(user=user, event_id=4, heartbeat_s=20, limits={"max_frame_bytes": 65536}),
        Ok(id=1, result={"message": message}),
        Error(id=None, code="bad_request", message="nope"),
        Event(type="message.created", data={"message": message}, event_id=9),
        Event(type="typing", data={"thread_id": 2, "user_id": 1}),
    ]
    for frame in frames:
        as_json = msgspec.json.decode(JSON.encode(frame))
        as_msgpack = msgspec.msgpack.decode(MSGPACK.encode(frame))
        assert as_json == as_msgpack
        assert isinstance(JSON.encode(frame), str)
        assert isinstance(MSGPACK.encode(frame), bytes)
    assert "client_msg_id" not in msgspec.json.decode(JSON.encode(frames[1]))["result"]["message"]
    assert "event_id" not in msgspec.json.decode(JSON.encode(frames[4]))
    assert "retry_after" not in msgspec.json.decode(JSON.encode(frames[2]))


@pytest.mark.parametrize(
    "payload",
    [
        b"\xdb\xff\xff\xff\xff",  # a str claiming 4 GiB
        b"\xdd\xff\xff\xff\xff",  # an array claiming 4 billion items
        b"\xdf\xff\xff\xff\xff",  # a map claiming 4 billion pairs
        b"\x81\x01\x02",  # a map with a non-string key
        b"\xd4\x01\x00",  # an ext type
        b"\x91" * 5000 + b"\xc0",  # deep nesting
    ],
)
def test_msgpack_bombs_are_refused_without_allocating(payload: bytes) -> None:
    with pytest.raises(ProtocolError) as raised:
        MSGPACK.decode(payload)
    assert raised.value.code is ErrorCode.BAD_REQUEST
