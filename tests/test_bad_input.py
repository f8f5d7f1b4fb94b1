"""Every bad input gets a clear error, stores nothing, and leaves the session and others working."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import msgspec
import pytest
import websockets

from protocol.values import Role
from tests.conftest import Cast, Connect, new_id, open_thread, own_chatd
from tests.support import JSON, MSGPACK, ChatdProcess, WsClient, new_firm, seeder


async def _message_count(client: WsClient, thread_id: int) -> int:
    return len((await client.ok("history", thread_id=thread_id, limit=100))["messages"])


@pytest.mark.parametrize(
    ("payload", "code", "request_id"),
    [
        ("{not json", "bad_request", None),
        ("[1, 2, 3]", "bad_request", None),
        ('{"id": 5}', "bad_request", 5),
        ('{"op": "fly", "id": 6}', "unknown_op", 6),
        ('{"op": "send", "id": 7, "body": "hi", "client_msg_id": "k"}', "bad_request", 7),
        ('{"op": "send", "id": 8, "thread_id": "one", "body": "hi", "client_msg_id": "k"}', "bad_request", 8),
        ('{"op": "send", "id": "r9", "thread_id": 1, "body": 3, "client_msg_id": "k"}', "bad_request", "r9"),
        ('{"op": "ping", "id": 10, "extra": true}', "bad_request", 10),
        ('{"op": "history", "id": 11, "thread_id": 1, "limit": 1000}', "bad_request", 11),
        ('{"op": "send", "id": 12, "thread_id": 1, "body": "x", "client_msg_id": ""}', "bad_request", 12),
    ],
)
async def test_malformed_frames_get_an_error_and_the_session_lives(
    cast: Cast, connect: Connect, payload: str, code: str, request_id: object
) -> None:
    client = await connect(cast.token(cast.client))
    await client.send_raw(payload)
    error = await client.next_frame(lambda f: f.get("op") == "error")
    assert error["code"] == code
    assert error["id"] == request_id
    assert error["message"]
    assert await client.ok("ping")


async def test_frames_of_the_wrong_kind_for_the_subprotocol(cast: Cast, connect: Connect) -> None:
    json_client = await connect(cast.token(cast.client), JSON)
    await json_client.send_raw(msgspec.msgpack.encode({"op": "ping", "id": 1}))
    assert (await json_client.next_frame(lambda f: f.get("op") == "error"))["code"] == "bad_request"
    msgpack_client = await connect(cast.token(cast.client), MSGPACK)
    await msgpack_client.send_raw('{"op": "ping", "id": 1}')
    assert (await msgpack_client.next_frame(lambda f: f.get("op") == "error"))["code"] == "bad_request"
    await msgpack_client.send_raw(b"\xc1\xff\x00")
    assert (await msgpack_client.next_frame(lambda f: f.get("op") == "error" and f["id"] is None))[
        "code"
    ] == "bad_request"
    assert await msgpack_client.ok("ping")


async def test_body_over_the_limit_is_too_large_and_not_stored(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    before = await _message_count(staff, thread_id)
    answer = await staff.call("send", thread_id=thread_id, body="x" * 10_001, client_msg_id=new_id())
    assert answer["code"] == "too_large"
    assert (await staff.call("send", thread_id=thread_id, body="   ", client_msg_id=new_id()))["code"] == "bad_request"
    assert await _message_count(staff, thread_id) == before
    assert (await staff.ok("send", thread_id=thread_id, body="x" * 10_000, client_msg_id=new_id()))["message"]


async def test_frame_over_the_limit_closes_with_1009(cast: Cast, connect: Connect) -> None:
    client = await connect(cast.token(cast.client), max_size=None)
    bystander = await connect(cast.token(cast.staff))
    await client.send_raw('{"op": "ping", "id": 1, "pad": "' + "x" * 70_000 + '"}')
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.conn.close_code == 1009
    assert await bystander.ok("ping")


async def test_threads_and_messages_of_others_are_not_found(cast: Cast, connect: Connect, services: object) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    other = await connect(cast.token(cast.other_client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    message_id = (await client.ok("send", thread_id=thread_id, body="mine", client_msg_id=new_id()))["message"]["id"]
    missing_thread = await other.call("send", thread_id=thread_id, body="sneaky", client_msg_id=new_id())
    absent_thread = await other.call("send", thread_id=10**9, body="sneaky", client_msg_id=new_id())
    assert missing_thread["code"] == absent_thread["code"] == "not_found"
    for op, fields in [
        ("history", {"thread_id": thread_id}),
        ("typing", {"thread_id": thread_id}),
        ("read", {"thread_id": thread_id, "message_id": message_id}),
        ("edit", {"message_id": message_id, "body": "changed"}),
        ("delete", {"message_id": message_id}),
    ]:
        assert (await other.call(op, **fields))["code"] == "not_found", op
    # Staff may not edit a client's message either; the text is untouched.
    assert (await staff.call("edit", message_id=message_id, body="rewritten"))["code"] == "not_found"
    history = await client.ok("history", thread_id=thread_id)
    assert history["messages"][-1]["body"] == "mine"
    assert await other.quiet(0.2) == []


async def test_a_firm_sees_nothing_of_another_firm(cast: Cast, connect: Connect, services: object) -> None:
    from tests.conftest import make_cast

    other_firm = await make_cast(services)  # type: ignore[arg-type]
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    intruder = await connect(other_firm.token(other_firm.staff))
    assert (await intruder.call("history", thread_id=thread_id))["code"] == "not_found"
    assert (
        await intruder.call(
            "thread.create",
            subject="x",
            body="y",
            client_msg_id=new_id(),
            client_account_id=cast.client.client_account_id,
        )
    )["code"] == "not_found"
    assert (
        await intruder.call(
            "thread.create", subject="x", body="y", client_msg_id=new_id(), participants=[cast.staff.id]
        )
    )["code"] == "not_found"
    assert all(t["id"] != thread_id for t in (await intruder.ok("threads"))["threads"])
    await staff.ok("send", thread_id=thread_id, body="private to firm one", client_msg_id=new_id())
    assert await intruder.quiet(0.3) == []


async def test_rate_limit_answers_rate_limited_and_recovers(cast: Cast, connect: Connect) -> None:
    client = await connect(cast.token(cast.client))
    for n in range(40):
        await client.conn.send(client.encode({"op": "ping", "id": n + 1000}))
    answers = [await client.next_frame(lambda f, i=n: f.get("id") == i + 1000) for n in range(40)]
    limited = [a for a in answers if a["op"] == "error"]
    assert limited, "40 requests at once must trip a 20/s limit"
    assert all(a["code"] == "rate_limited" and a["retry_after"] > 0 for a in limited)
    await asyncio.sleep(1.1)
    assert await client.ok("ping")


async def test_bad_revoked_and_missing_credentials_are_refused_at_the_handshake(
    cast: Cast, server: ChatdProcess, services: object
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer chatd_nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Cookie": "chatd_session=forged"},
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.ws_url, additional_headers=headers)
        assert refused.value.response.status_code == 403
        assert msgspec.json.decode(refused.value.response.body)["error"]["code"] == "unauthorized"
    token_id, token = await services.directory.create_token(cast.client.id)  # type: ignore[attr-defined]
    live = await WsClient.connect(server.ws_url, token)
    await live.close()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        revoked = await http.delete(f"/api/tokens/{token_id}", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 204
        assert (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(server.ws_url, additional_headers={"Authorization": f"Bearer {token}"})


async def test_unknown_subprotocol_is_refused(cast: Cast, server: ChatdProcess) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            server.ws_url,
            subprotocols=["chatd.v9"],
            additional_headers={"Authorization": f"Bearer {cast.token(cast.client)}"},  # type: ignore[list-item]
        )
    assert refused.value.response.status_code == 400


async def test_cookie_sessions_need_an_allowed_origin(tmp_path: Path) -> None:
    process = ChatdProcess(tmp_path, env={"CHATD_ALLOWED_ORIGINS": "https://app.example.test"})
    process.start()
    try:
        async with seeder(tmp_path, process.env) as services:
            firm = await new_firm(services)
            user = await firm.user(Role.STAFF, password="correct horse battery")
        async with httpx.AsyncClient(base_url=process.base_url) as http:
            login = await http.post("/api/login", json={"email": user.email, "password": "correct horse battery"})
            assert login.status_code == 200
            cookie = f"chatd_session={login.cookies['chatd_session']}"
        allowed = ["https://app.example.test", process.base_url]
        refused = [
            None,
            "null",
            "https://evil.example.test",
            "https://app.example.test.evil.test",
            "https://evil-app.example.test",
            "https://evilapp.example.test",
            "https://app.example.test:8443",
            "https://app.example.test/",
            "http://app.example.test",
            f"{process.base_url}.evil.test",
            f"http://localhost:{process.port}",
        ]
        for origin in allowed:
            headers = {"Cookie": cookie, "Origin": origin}
            client = await WsClient.connect(process.ws_url, headers=headers)
            assert client.hello["user"]["id"] == user.id
            await client.close()
        for origin in refused:
            headers = {"Cookie": cookie} | ({"Origin": origin} if origin else {})
            with pytest.raises(websockets.InvalidStatus) as denied:
                await websockets.connect(process.ws_url, additional_headers=headers, origin=None)
            assert denied.value.response.status_code == 403, origin
        # The same allowlist guards the HTTP API's writes made with the cookie.
        async with httpx.AsyncClient(base_url=process.base_url) as http:
            for origin in refused:
                headers = {"Cookie": cookie} | ({"Origin": origin} if origin else {})
                answer = await http.post("/api/notifications/read", headers=headers, json={})
                assert answer.status_code == 401, origin
            allowed_write = await http.post(
                "/api/notifications/read", headers={"Cookie": cookie, "Origin": allowed[0]}, json={}
            )
            assert allowed_write.status_code == 200
    finally:
        process.stop()


async def test_history_takes_before_or_after_not_both(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    assert (await staff.call("history", thread_id=thread_id, before=5, after=1))["code"] == "bad_request"


async def test_clients_cannot_probe_the_firms_users(cast: Cast, connect: Connect) -> None:
    client = await connect(cast.token(cast.client))
    staff_probe = await client.call(
        "thread.create", subject="s", body="b", client_msg_id=new_id(), participants=[cast.staff.id]
    )
    other_probe = await client.call(
        "thread.create", subject="s", body="b", client_msg_id=new_id(), participants=[cast.other_client.id]
    )
    missing = await client.call("thread.create", subject="s", body="b", client_msg_id=new_id(), participants=[10**9])
    assert staff_probe["code"] == other_probe["code"] == missing["code"] == "not_found"
    assert (await client.ok("threads"))["threads"] == []


async def test_permessage_deflate_is_off_unless_configured(cast: Cast, server: ChatdProcess, tmp_path: Path) -> None:
    offered = await WsClient.connect(server.ws_url, cast.token(cast.client), compression="deflate")
    assert "permessage-deflate" in offered.conn.request.headers["Sec-WebSocket-Extensions"]
    assert offered.conn.response.headers.get("Sec-WebSocket-Extensions") is None
    await offered.close()
    async with own_chatd(tmp_path, {"CHATD_WS_COMPRESSION": "1"}) as (compressing, own_cast):
        client = await WsClient.connect(compressing.ws_url, own_cast.token(own_cast.client), compression="deflate")
        assert "permessage-deflate" in client.conn.response.headers["Sec-WebSocket-Extensions"]
        assert await client.ok("ping")
        await client.close()
