"""Two chatd processes on one Redis and one SQLite file: a client on each chats live."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from protocol.values import Role
from tests.conftest import make_cast, new_id, open_thread
from tests.support import MSGPACK, ChatdProcess, RedisServer, WsClient, seeder


@pytest.fixture
def pair(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[ChatdProcess, ChatdProcess]]:
    env = {"CHATD_REDIS_URL": redis_server.url}
    one, two = ChatdProcess(tmp_path, env=env), ChatdProcess(tmp_path, env=env)
    one.start()
    two.start()
    yield one, two
    one.stop()
    two.stop()


async def test_a_client_on_each_process_chats_live(tmp_path: Path, pair: tuple[ChatdProcess, ChatdProcess]) -> None:
    one, two = pair
    async with seeder(tmp_path, one.env) as services:
        cast = await make_cast(services)
    staff = await WsClient.connect(one.ws_url, cast.token(cast.staff))
    client = await WsClient.connect(two.ws_url, cast.token(cast.client), subprotocol=MSGPACK)
    staff2 = await WsClient.connect(two.ws_url, cast.token(cast.staff2))
    await client.ok("ping")
    await staff2.ok("ping")
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("thread.created", thread__id=thread_id)
    await client.event("message.created", message__thread_id=thread_id)

    reply = await client.ok("send", thread_id=thread_id, body="Sent through process two", client_msg_id=new_id())
    await staff.event("message.created", message__id=reply["message"]["id"])
    await client.ok("typing", thread_id=thread_id)
    await staff.event("typing", user_id=cast.client.id)
    await staff.ok("read", thread_id=thread_id, message_id=reply["message"]["id"])
    await client.event("read", user_id=cast.staff.id)
    note = await staff.ok("send", thread_id=thread_id, body="internal", client_msg_id=new_id(), kind="note")
    await staff2.event("message.created", message__id=note["message"]["id"])
    assert [e for e in await client.quiet(0.3) if e["type"] == "message.created"] == []

    # Both sides write at once: every session sees every message once, in id order.
    for n in range(10):
        await staff.conn.send(
            staff.encode({"op": "send", "thread_id": thread_id, "body": f"s{n}", "client_msg_id": new_id()})
        )
        await client.conn.send(
            client.encode({"op": "send", "thread_id": thread_id, "body": f"c{n}", "client_msg_id": new_id()})
        )
    for viewer in (staff, client, staff2):
        await viewer.next_frame(
            lambda f, v=viewer: (
                sum(
                    1 for e in v.events if e["type"] == "message.created" and e["data"]["message"]["body"][1:].isdigit()
                )
                >= 20
            ),
            timeout=10,
        )
        ids = [e["data"]["message"]["id"] for e in viewer.events if e["type"] == "message.created"]
        assert ids == sorted(ids)
        assert len(ids) == len(set(ids))
        event_ids = [e["event_id"] for e in viewer.events if "event_id" in e]
        assert event_ids == sorted(event_ids)
        assert len(event_ids) == len(set(event_ids))
    for c in (staff, client, staff2):
        await c.close()


async def test_redis_restart_loses_nothing(
    tmp_path: Path, redis_server: RedisServer, pair: tuple[ChatdProcess, ChatdProcess]
) -> None:
    """While Redis is down, sends succeed and same-process delivery goes on; after it is back, the
    other process fills what it missed from SQL."""
    one, two = pair
    async with seeder(tmp_path, one.env) as services:
        cast = await make_cast(services)
    staff = await WsClient.connect(one.ws_url, cast.token(cast.staff))
    local_client = await WsClient.connect(one.ws_url, cast.token(cast.client))
    remote_client = await WsClient.connect(two.ws_url, cast.token(cast.client))
    await local_client.ok("ping")
    await remote_client.ok("ping")
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await remote_client.event("message.created", message__thread_id=thread_id)

    redis_server.stop()
    during = await staff.ok("send", thread_id=thread_id, body="while redis is down", client_msg_id=new_id())
    await local_client.event("message.created", message__id=during["message"]["id"])
    redis_server.start()
    await remote_client.event("message.created", timeout=15, message__id=during["message"]["id"])
    after = await staff.ok("send", thread_id=thread_id, body="after redis is back", client_msg_id=new_id())
    await remote_client.event("message.created", timeout=10, message__id=after["message"]["id"])
    bodies = [e["data"]["message"]["body"] for e in remote_client.events if e["type"] == "message.created"]
    assert bodies.count("while redis is down") == 1
    await asyncio.gather(staff.close(), local_client.close(), remote_client.close())


async def test_processes_started_together_on_a_fresh_data_dir_agree(tmp_path: Path) -> None:
    """They race to create the secret key and to migrate the new SQLite file; both must win."""
    processes = [ChatdProcess(tmp_path) for _ in range(3)]
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in processes))
    try:
        async with seeder(tmp_path, {}) as services:
            cast = await make_cast(services)
            user = await cast.firm.user(Role.STAFF, password="shared secret key")
        async with httpx.AsyncClient() as http:
            login = await http.post(
                f"{processes[0].base_url}/api/login", json={"email": user.email, "password": "shared secret key"}
            )
            cookie = login.cookies["chatd_session"]
            for process in processes:  # a cookie signed by one process is good on the others
                me = await http.get(f"{process.base_url}/api/me", headers={"Cookie": f"chatd_session={cookie}"})
                assert me.status_code == 200
    finally:
        for process in processes:
            process.stop()
        for process in processes:
            assert "Traceback" not in process.log(), process.log()


async def test_presence_crosses_processes(tmp_path: Path, pair: tuple[ChatdProcess, ChatdProcess]) -> None:
    one, two = pair
    async with seeder(tmp_path, one.env) as services:
        cast = await make_cast(services)
    staff = await WsClient.connect(one.ws_url, cast.token(cast.staff))
    await staff.ok("ping")

    def client_presence() -> list[tuple[str, bool]]:
        return [
            (e["data"]["status"], "event_id" in e)
            for e in staff.events
            if e["type"] == "presence" and e["data"]["user_id"] == cast.client.id
        ]

    first_tab = await WsClient.connect(two.ws_url, cast.token(cast.client))
    await staff.event("presence", user_id=cast.client.id, status="online")
    # A second session, on the other process, and closing one of the two: still online, no event.
    second_tab = await WsClient.connect(one.ws_url, cast.token(cast.client))
    # Answered once the session is recorded (the hello goes first, so a resume need not wait for
    # it): closing the first tab before then would rightly find no other session for a moment.
    await second_tab.ok("ping")
    await first_tab.close()
    await staff.quiet(0.5)
    assert client_presence() == [("online", False)]
    await second_tab.close()
    await staff.event("presence", user_id=cast.client.id, status="offline")
    assert client_presence() == [("online", False), ("offline", False)]

    # Clients never learn who is connected; staff do not get their own.
    client = await WsClient.connect(one.ws_url, cast.token(cast.client))
    await client.ok("ping")
    colleague = await WsClient.connect(two.ws_url, cast.token(cast.staff2))
    await staff.event("presence", user_id=cast.staff2.id, status="online")
    await colleague.ok("ping")
    assert await client.quiet(0.5, "presence") == []
    assert [e for e in colleague.events if e["type"] == "presence" and e["data"]["user_id"] == cast.staff2.id] == []
    for c in (staff, client, colleague):
        await c.close()
