"""Fuzzing the wire: every frame type in both codecs (Hypothesis), hostile msgpack and JSON, and a
sample of it all against a running server. Every input gets an error frame (with the request id
when one can be read) or a defined close code; nothing raises anything else, and memory stays flat.

The example counts are bounded so the module runs in seconds (FUZZ_EXAMPLES raises them).
"""

from __future__ import annotations

import asyncio
import os
import tracemalloc
import typing
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from protocol import ProtocolError, codec_for
from protocol.codec import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL
from protocol.errors import ErrorCode
from protocol.frames import OPS, ClientFrame
from tests.conftest import Cast, Connect
from tests.support import JSON, MSGPACK, ChatdProcess, WsClient

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
CODECS = (codec_for(JSON_SUBPROTOCOL), codec_for(MSGPACK_SUBPROTOCOL))
FRAME_TYPES = typing.get_args(ClientFrame)
CODES = {code.value for code in ErrorCode}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON-like values, and frames built from them: an op (mostly a real one) and any fields.
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
frames = st.dictionaries(st.text(max_size=15), values, max_size=6).flatmap(
    lambda extra: st.fixed_dictionaries(
        {"op": st.sampled_from(sorted(OPS)) | st.text(max_size=10), "id": st.integers(1, 10**6)}
    ).map(lambda base: {**extra, **base})
)


def _wire(codec: Any, frame: Any) -> str | bytes:
    return msgspec.msgpack.encode(frame) if codec.binary else msgspec.json.encode(frame).decode()


def _decode(codec: Any, payload: str | bytes) -> ClientFrame | ProtocolError:
    """The codec's answer: a frame, or the ProtocolError it raised (anything else fails the test)."""
    try:
        return codec.decode(payload)
    except ProtocolError as exc:
        return exc


@pytest.mark.parametrize("frame_type", FRAME_TYPES, ids=lambda t: t.__struct_config__.tag)
@FUZZ
@given(data=st.data())
def test_every_frame_type_decodes_or_is_refused_in_both_codecs(frame_type: type, data: st.DataObject) -> None:
    """Instances of each frame type with any field values (inside or outside their limits)."""
    frame = data.draw(st.builds(frame_type, id=st.integers(1, 10**9) | st.text(max_size=70)))
    try:
        builtins = msgspec.to_builtins(frame)
    except TypeError:
        reject()  # Hypothesis passed a field's default factory itself (msgspec.field(default_factory=...))
    for codec in CODECS:
        try:
            payload = _wire(codec, builtins)
        except OverflowError:
            continue  # an integer msgpack cannot carry: no client can send it
        answer = _decode(codec, payload)
        if isinstance(answer, ProtocolError):
            assert answer.code is ErrorCode.BAD_REQUEST
            assert answer.request_id in (None, frame.id)
        else:
            assert answer == frame


@FUZZ
@given(frame=frames)
def test_any_map_is_a_frame_or_an_error_with_its_id(frame: dict[str, Any]) -> None:
    for codec in CODECS:
        answer = _decode(codec, _wire(codec, frame))
        if isinstance(answer, ProtocolError):
            assert answer.code in (ErrorCode.BAD_REQUEST, ErrorCode.UNKNOWN_OP)
            assert answer.request_id == frame["id"]
            if frame["op"] not in OPS:
                assert answer.code is ErrorCode.UNKNOWN_OP


@FUZZ
@given(payload=st.binary(max_size=200), text=st.text(max_size=200))
def test_any_bytes_or_text_is_a_frame_or_an_error(payload: bytes, text: str) -> None:
    for codec in CODECS:
        for raw in (payload, text):
            _decode(codec, raw)


def _bombs() -> dict[str, bytes | str]:
    """Hostile inputs, each small on the wire."""
    deep = 200_000
    return {
        "msgpack str32 declaring 4 GiB": b"\x81\xa2op\xdb\xff\xff\xff\xffping",
        "msgpack bin32 declaring 4 GiB": b"\x81\xa2op\xc6\xff\xff\xff\xff",
        "msgpack array32 declaring 4 billion items": b"\xdd\xff\xff\xff\xff\x01",
        "msgpack map32 declaring 4 billion pairs": b"\xdf\xff\xff\xff\xff\xa2op",
        "msgpack nested arrays": b"\x91" * deep,
        "msgpack nested maps": b"\x81\xa1a" * deep + b"\xc0",
        "msgpack ext types": b"\x82\xa2op\xd4\x01\x00\xa2id\xc7\x03\x05abc",
        "msgpack timestamp ext": b"\x82\xa2op\xd6\xff\x00\x00\x00\x00\xa2id\x01",
        "msgpack non-string keys": b"\x83\x01\x02\xc3\xc2\xa2op\xa4ping",
        "msgpack truncated": b"\x82\xa2op\xa4pi",
        "msgpack trailing bytes": msgspec.msgpack.encode({"op": "ping", "id": 1}) + b"\x00\x00",
        "json nested arrays": "[" * deep + "]" * deep,
        "json nested objects": '{"a":' * deep + "1" + "}" * deep,
        "json nested inside a frame": '{"op": "send", "id": 9, "body": ' + "[" * deep + "]" * deep + "}",
        "json huge number": '{"op": "ping", "id": ' + "9" * 5000 + "}",
        "json lone surrogate escape": '{"op": "ping", "id": 1, "x": "\\ud800"}',
        "json duplicate keys": '{"op": "ping", "op": "fly", "id": 1}',
        "invalid utf-8 in binary": b'{"op": "ping", "id": 1, "x": "\xff\xfe"}',
    }


@pytest.mark.parametrize("name", sorted(_bombs()))
def test_hostile_inputs_are_refused_in_bounded_memory(name: str) -> None:
    payload = _bombs()[name]
    tracemalloc.start()
    try:
        for codec in CODECS:
            answer = _decode(codec, payload)
            assert isinstance(answer, ProtocolError) or answer.__struct_config__.tag == "ping", name
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Each input is under 1 MB; decoding it may take a few times that, never what it declares.
    assert peak < 64 * 1024 * 1024, (name, peak)


def _rss_kib(server: ChatdProcess) -> int:
    assert server.process is not None
    status = open(f"/proc/{server.process.pid}/status").read()  # noqa: SIM115
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


async def _answered_or_closed(client: WsClient, payload: str | bytes, request_id: object) -> None:
    start = len(client.frames)
    await client.send_raw(payload)
    try:
        frame = await client.next_frame(lambda f: f.get("op") in ("ok", "error"), start=start)
    except ConnectionError:
        assert client.conn.close_code in (1007, 1009), client.conn.close_code
        return
    if frame["op"] == "error":
        assert frame["code"] in CODES, frame
        assert frame["code"] != "internal", frame
    if request_id is not None and frame["id"] is not None:
        assert frame["id"] == request_id


async def test_a_running_server_answers_fuzzed_frames_and_bombs(
    cast: Cast, connect: Connect, server: ChatdProcess
) -> None:
    """A sample of the generated frames and every bomb, on both subprotocols, then a check that the
    server still answers, its memory is flat, and (the server fixture) its log has no error."""
    sample = _sample(frames, EXAMPLES)
    clients = {JSON: await connect(cast.token(cast.staff)), MSGPACK: await connect(cast.token(cast.staff), MSGPACK)}
    await _warm_up(clients)
    before = _rss_kib(server)
    for _ in range(2):
        for subprotocol, client in list(clients.items()):
            codec = CODECS[subprotocol == MSGPACK]
            for frame in sample:
                if client.closed.is_set():
                    client = clients[subprotocol] = await connect(cast.token(cast.staff), subprotocol)
                await _answered_or_closed(client, _wire(codec, frame), frame["id"])
                await asyncio.sleep(0.04)  # under the rate limit: answers, not rate_limited, mostly
            for payload in _bombs().values():
                if client.closed.is_set():
                    client = clients[subprotocol] = await connect(cast.token(cast.staff), subprotocol)
                await _answered_or_closed(client, payload, None)
    after = _rss_kib(server)
    fresh = await connect(cast.token(cast.client))
    assert await fresh.ok("ping")
    # Two rounds of the same inputs: a leak would grow with each; allocator noise stays small.
    assert after - before < 48 * 1024, (before, after)


async def _warm_up(clients: dict[str, WsClient]) -> None:
    for client in clients.values():
        for _ in range(3):
            await client.ok("threads")


def _sample(strategy: st.SearchStrategy[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` frames drawn by Hypothesis, through a test of its own (``example()`` is not for tests)."""
    drawn: list[dict[str, Any]] = []

    @settings(max_examples=count, deadline=None, database=None)
    @given(strategy)
    def collect(frame: dict[str, Any]) -> None:
        drawn.append(frame)

    collect()
    return drawn[:count]
