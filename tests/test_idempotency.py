"""The same (author, client_msg_id) stores and delivers one message, even across a reconnect."""

from __future__ import annotations

from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import MSGPACK


async def test_same_client_msg_id_twice_stores_one_message(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    await client.ok("ping")
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    key = new_id()
    first = await client.ok("send", thread_id=thread_id, body="Here is my payslip", client_msg_id=key)
    second = await client.ok("send", thread_id=thread_id, body="Here is my payslip", client_msg_id=key)
    assert first == second
    await staff.event("message.created", message__id=first["message"]["id"])
    assert [
        e for e in await staff.quiet(0.3, "message.created") if e["data"]["message"]["id"] != first["message"]["id"]
    ] == []
    delivered = [
        e
        for e in staff.events
        if e["type"] == "message.created" and e["data"]["message"]["body"] == "Here is my payslip"
    ]
    assert len(delivered) == 1
    history = await staff.ok("history", thread_id=thread_id)
    assert [m["body"] for m in history["messages"]].count("Here is my payslip") == 1


async def test_retry_after_reconnect_returns_the_same_message(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    key = new_id()
    client = await connect(cast.token(cast.client))
    first = await client.ok("send", thread_id=thread_id, body="Sent before the tunnel", client_msg_id=key)
    await client.close()
    again = await connect(cast.token(cast.client), MSGPACK)
    second = await again.ok("send", thread_id=thread_id, body="Sent before the tunnel", client_msg_id=key)
    assert second["message"] == first["message"]
    history = await again.ok("history", thread_id=thread_id)
    assert sum(m["body"] == "Sent before the tunnel" for m in history["messages"]) == 1


async def test_thread_create_is_idempotent(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    key = new_id()
    fields = {
        "subject": "Lease renewal",
        "body": "Shall we renew?",
        "client_msg_id": key,
        "client_account_id": cast.client.client_account_id,
    }
    first = await staff.ok("thread.create", **fields)
    second = await staff.ok("thread.create", **fields)
    assert first["thread"]["id"] == second["thread"]["id"]
    assert first["message"] == second["message"]
    listed = [t for t in (await staff.ok("threads"))["threads"] if t["subject"] == "Lease renewal"]
    assert len(listed) == 1


async def test_reusing_a_key_in_another_thread_is_a_conflict(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    one = (await open_thread(staff, cast.client))["thread"]["id"]
    two = (await open_thread(staff, cast.client))["thread"]["id"]
    key = new_id()
    await staff.ok("send", thread_id=one, body="first", client_msg_id=key)
    answer = await staff.call("send", thread_id=two, body="first", client_msg_id=key)
    assert answer["code"] == "conflict"
    assert (await staff.ok("history", thread_id=two))["messages"][-1]["body"] != "first"


async def test_a_send_key_cannot_open_a_thread(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    key = new_id()
    await staff.ok("send", thread_id=thread_id, body="a reply", client_msg_id=key)
    answer = await staff.call(
        "thread.create",
        subject="New",
        body="a reply",
        client_msg_id=key,
        client_account_id=cast.client.client_account_id,
    )
    assert answer["code"] == "conflict"
