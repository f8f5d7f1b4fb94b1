"""Internal notes reach staff only: never a client, by events, history, resume, unread or threads."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import MSGPACK


async def test_a_note_never_reaches_a_client(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2), MSGPACK)
    client = await connect(cast.token(cast.client))
    await client.ok("ping")
    await staff2.ok("ping")
    opened = await open_thread(staff, cast.client)
    thread_id = opened["thread"]["id"]
    await client.event("message.created", message__thread_id=thread_id)
    anchor = client.events[-1]["event_id"]

    def about_the_opening(event: dict[str, Any]) -> bool:
        return (
            event["type"] == "notification" and event["data"]["notification"]["message_id"] == opened["message"]["id"]
        )

    listed_before = (await client.ok("threads"))["threads"][0]
    before = listed_before["unread"]

    note = await staff.ok(
        "send", thread_id=thread_id, body="Client is late on VAT again", client_msg_id=new_id(), kind="note"
    )
    assert note["message"]["kind"] == "note"
    await staff.ok("typing", thread_id=thread_id, kind="note")
    # Staff get the note and the note-typing, live.
    got = await staff2.event("message.created", message__id=note["message"]["id"])
    assert got["data"]["message"]["kind"] == "note"
    await staff2.event("typing", thread_id=thread_id)
    # A receipt for a read up to the note points clients at the last message they can see...
    first_id = (await staff2.ok("history", thread_id=thread_id))["messages"][0]["id"]
    await staff2.ok("read", thread_id=thread_id, message_id=first_id)
    receipt = await client.event("read", user_id=cast.staff2.id)
    assert receipt["data"]["message_id"] == first_id
    anchor = receipt["event_id"]
    # ...and a read that only crosses the note tells the client nothing.
    await staff2.ok("read", thread_id=thread_id, message_id=note["message"]["id"])
    edited = await staff.ok("edit", message_id=note["message"]["id"], body="Client is late on VAT (3rd time)")
    assert edited["message"]["kind"] == "note"

    # Client: no event of any kind about it (the opening message's notification may come late)...
    assert [e for e in await client.quiet(0.4) if not about_the_opening(e)] == []
    # ...not in history, not in unread counts...
    history = await client.ok("history", thread_id=thread_id)
    assert all(m["kind"] != "note" for m in history["messages"])
    listed_after = (await client.ok("threads"))["threads"][0]
    assert listed_after["unread"] == before
    # ...nor in the thread's activity: a note does not move it or change its newest message.
    assert listed_after["last_message_id"] == listed_before["last_message_id"]
    assert listed_after["last_activity_at"] == listed_before["last_activity_at"]
    staff_view = next(t for t in (await staff.ok("threads"))["threads"] if t["id"] == thread_id)
    assert staff_view["last_message_id"] == note["message"]["id"]
    # ...not by id...
    assert (await client.call("read", thread_id=thread_id, message_id=note["message"]["id"]))["code"] == "not_found"
    assert (await client.call("edit", message_id=note["message"]["id"], body="x"))["code"] == "not_found"
    # ...and not on resume.
    back = await connect(cast.token(cast.client))
    await back.ok("resume", after_event_id=anchor)
    assert [e for e in back.events if not about_the_opening(e)] == []
    # Clients cannot write notes.
    assert (await client.call("send", thread_id=thread_id, body="n", client_msg_id=new_id(), kind="note"))[
        "code"
    ] == "bad_request"
    assert (await client.call("typing", thread_id=thread_id, kind="note"))["code"] == "bad_request"


async def test_read_receipt_after_a_note_points_clients_at_what_they_see(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    await client.ok("ping")
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    reply = await client.ok("send", thread_id=thread_id, body="Question about my rent", client_msg_id=new_id())
    note = await staff.ok("send", thread_id=thread_id, body="check the lease", client_msg_id=new_id(), kind="note")
    staff2 = await connect(cast.token(cast.staff2))
    await staff2.ok("read", thread_id=thread_id, message_id=note["message"]["id"])
    receipt = await client.event("read", user_id=cast.staff2.id)
    assert receipt["data"]["message_id"] == reply["message"]["id"]
