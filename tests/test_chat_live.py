"""Staff and a client chat live over WebSocket: messages, typing, read receipts, several tabs."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import JSON, MSGPACK


@pytest.mark.parametrize("subprotocol", [JSON, MSGPACK])
async def test_staff_and_client_chat_live(cast: Cast, connect: Connect, subprotocol: str) -> None:
    staff = await connect(cast.token(cast.staff), subprotocol)
    client = await connect(cast.token(cast.client), subprotocol)
    assert staff.conn.subprotocol == subprotocol
    assert staff.hello["user"]["id"] == cast.staff.id
    assert client.hello["user"]["role"] == "client"

    created = await open_thread(staff, cast.client)
    thread_id = created["thread"]["id"]
    assert created["message"]["body"] == "Hello, your file is ready."

    arrived = await client.event("thread.created", thread__id=thread_id)
    assert arrived["data"]["thread"]["unread"] == 1
    first = await client.event("message.created", message__thread_id=thread_id)
    assert first["data"]["message"]["author_id"] == cast.staff.id
    assert "client_msg_id" not in first["data"]["message"]

    # Typing reaches the other side, not the typer.
    await client.ok("typing", thread_id=thread_id)
    typing = await staff.event("typing", thread_id=thread_id)
    assert typing["data"] == {"thread_id": thread_id, "user_id": cast.client.id, "kind": "message"}
    assert "event_id" not in typing
    assert await client.quiet(0.2, "typing") == []

    reply_id = new_id()
    reply = await client.ok("send", thread_id=thread_id, body="Thanks! **Got it**.", client_msg_id=reply_id)
    assert reply["message"]["client_msg_id"] == reply_id
    seen = await staff.event("message.created", message__id=reply["message"]["id"])
    assert seen["data"]["message"]["body"] == "Thanks! **Got it**."
    assert "client_msg_id" not in seen["data"]["message"]
    own = await client.event("message.created", message__id=reply["message"]["id"])
    assert own["data"]["message"]["client_msg_id"] == reply_id

    # The read receipt is stored and reaches the other participant.
    await staff.ok("read", thread_id=thread_id, message_id=reply["message"]["id"])
    receipt = await client.event("read", user_id=cast.staff.id)
    assert receipt["data"] == {"thread_id": thread_id, "user_id": cast.staff.id, "message_id": reply["message"]["id"]}
    threads = await staff.ok("threads")
    assert next(t for t in threads["threads"] if t["id"] == thread_id)["unread"] == 0
    client_view = await client.ok("threads")
    assert client_view["threads"][0]["id"] == thread_id
    assert client_view["threads"][0]["unread"] == 0  # the client's own reply marks what came before as read


async def test_every_tab_of_a_user_receives(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    tab1 = await connect(cast.token(cast.client))
    tab2 = await connect(cast.token(cast.client), MSGPACK)
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    sent = await staff.ok("send", thread_id=thread_id, body="Second message", client_msg_id=new_id())
    for tab in (tab1, tab2):
        got = await tab.event("message.created", message__id=sent["message"]["id"])
        assert got["event_id"] > tab.hello["event_id"]
    # A read in one tab updates the other tab of the same user.
    await tab1.ok("read", thread_id=thread_id, message_id=sent["message"]["id"])
    await tab2.event("read", user_id=cast.client.id)


async def test_other_clients_and_firms_see_nothing(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    other = await connect(cast.token(cast.other_client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await staff.ok("send", thread_id=thread_id, body="For Claire only", client_msg_id=new_id())
    await staff.ok("typing", thread_id=thread_id)
    assert await other.quiet(0.3) == []
    assert (await other.call("history", thread_id=thread_id))["code"] == "not_found"
    assert (await other.ok("threads"))["threads"] == []


async def test_per_thread_order_is_the_order_of_ids(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    client = await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    for n in range(6):
        await staff.conn.send(
            staff.encode({"op": "send", "thread_id": thread_id, "body": f"a{n}", "client_msg_id": new_id()})
        )
        await staff2.conn.send(
            staff2.encode({"op": "send", "thread_id": thread_id, "body": f"b{n}", "client_msg_id": new_id()})
        )
    await client.next_frame(lambda f: sum(1 for e in client.events if e["type"] == "message.created") >= 13, timeout=10)
    ids = [e["data"]["message"]["id"] for e in client.events if e["type"] == "message.created"]
    assert ids == sorted(ids)
    history = await client.ok("history", thread_id=thread_id, limit=100)
    assert [m["id"] for m in history["messages"]] == ids


async def test_typing_is_throttled_to_one_fan_out_per_two_seconds(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    await client.ok("ping")
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    for _ in range(5):
        await client.ok("typing", thread_id=thread_id)
    await staff.event("typing", thread_id=thread_id)
    assert len(await staff.quiet(1.0, "typing")) == 0
    assert sum(e["type"] == "typing" for e in staff.events) == 1
    await asyncio.sleep(1.1)
    await client.ok("typing", thread_id=thread_id)
    await staff.event("typing", thread_id=thread_id)
    assert sum(e["type"] == "typing" for e in staff.events) == 2
