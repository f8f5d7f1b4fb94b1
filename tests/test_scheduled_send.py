"""Delayed send: ``send`` with ``send_at`` keeps the message, staff see it scheduled, it is sent
once when the (moved) clock says it is due."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.conftest import Cast, Connect, chatd_server, new_id, open_thread
from tests.support import ChatdProcess, WsClient
from tests.timing import TestClock, iso

server = chatd_server()


async def schedule(
    staff: WsClient, thread_id: int, send_at: str, body: str = "Reminder: papers", **extra: object
) -> dict:
    answer = await staff.ok("send", thread_id=thread_id, body=body, client_msg_id=new_id(), send_at=send_at, **extra)
    scheduled: dict = answer["scheduled"]
    return scheduled


async def test_a_scheduled_message_is_sent_once_when_due(cast: Cast, connect: Connect, clock: TestClock) -> None:
    staff, staff2 = await connect(cast.token(cast.staff)), await connect(cast.token(cast.staff2))
    client = await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("message.created", message__thread_id=thread_id)
    mark = len(client.events)

    scheduled = await schedule(staff, thread_id, iso(clock.now() + timedelta(hours=2)))
    assert scheduled["state"] == "scheduled"
    assert scheduled["message_id"] is None
    seen = await staff2.event("scheduled.updated", scheduled__id=scheduled["id"])
    assert seen["data"]["scheduled"]["body"] == "Reminder: papers"
    listed = await staff2.ok("scheduled.list", thread_id=thread_id)
    assert [s["id"] for s in listed["scheduled"]] == [scheduled["id"]]
    # Clients learn nothing of it until it is sent.
    assert (await client.call("scheduled.list"))["code"] == "bad_request"
    clock.advance(3600)  # one hour: not yet
    # (The client's notification of the opening message may arrive any time: it is not about this.)
    await client.quiet(0.5)
    assert [e for e in client.events[mark:] if e["type"] != "notification"] == []
    clock.advance(3700)
    created = await client.event("message.created", message__body="Reminder: papers", timeout=10)
    assert created["data"]["message"]["thread_id"] == thread_id
    assert created["data"]["message"]["author_id"] == cast.staff.id
    sent = await staff.event("scheduled.updated", scheduled__state="sent")
    assert sent["data"]["scheduled"]["message_id"] == created["data"]["message"]["id"]

    assert await client.quiet(0.5, "message.created") == []
    history = await client.ok("history", thread_id=thread_id)
    assert [m["body"] for m in history["messages"]].count("Reminder: papers") == 1
    assert (await staff.ok("scheduled.list", thread_id=thread_id))["scheduled"] == []
    done = await staff.ok("scheduled.list", thread_id=thread_id, include_done=True)
    assert [s["state"] for s in done["scheduled"]] == ["sent"]


async def test_edit_and_cancel_until_due(cast: Cast, connect: Connect, clock: TestClock) -> None:
    staff, client = await connect(cast.token(cast.staff)), await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("message.created", message__thread_id=thread_id)
    first = await schedule(staff, thread_id, iso(clock.now() + timedelta(minutes=30)), body="draft")
    second = await schedule(staff, thread_id, iso(clock.now() + timedelta(minutes=30)), body="to cancel")

    later = iso(clock.now() + timedelta(hours=5))
    edited = await staff.ok("scheduled.edit", scheduled_id=first["id"], body="final text", send_at=later)
    assert edited["scheduled"]["body"] == "final text"
    assert edited["scheduled"]["send_at"].startswith(later[:16])
    cancelled = await staff.ok("scheduled.cancel", scheduled_id=second["id"])
    assert cancelled["scheduled"]["state"] == "cancelled"
    again = await staff.call("scheduled.cancel", scheduled_id=second["id"])
    assert again["code"] == "conflict"
    # Another staff member may not change someone else's scheduled message.
    staff2 = await connect(cast.token(cast.staff2))
    assert (await staff2.call("scheduled.edit", scheduled_id=first["id"], body="x"))["code"] == "not_found"

    clock.advance(3600)  # the original time passes: nothing is sent
    assert await client.quiet(0.6, "message.created") == []
    clock.advance(5 * 3600)
    created = await client.event("message.created", message__body="final text", timeout=10)
    assert created["data"]["message"]["thread_id"] == thread_id
    assert await client.quiet(0.5, "message.created") == []
    assert (await staff.call("scheduled.edit", scheduled_id=first["id"], body="late"))["code"] == "conflict"


async def test_cancelled_when_the_client_writes_first(cast: Cast, connect: Connect, clock: TestClock) -> None:
    staff, client = await connect(cast.token(cast.staff)), await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    scheduled = await schedule(
        staff, thread_id, iso(clock.now() + timedelta(hours=1)), body="Any news?", cancel_if_client_writes=True
    )
    await client.ok("send", thread_id=thread_id, body="Here are my papers", client_msg_id=new_id())
    clock.advance(2 * 3600)
    update = await staff.event("scheduled.updated", scheduled__id=scheduled["id"], scheduled__state="cancelled")
    assert update["data"]["scheduled"]["error"] == "the client wrote first"
    history = await staff.ok("history", thread_id=thread_id)
    assert "Any news?" not in [m["body"] for m in history["messages"]]


async def test_a_send_that_cannot_happen_is_reported_to_its_author(
    cast: Cast, connect: Connect, clock: TestClock
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    key = new_id()
    answer = await staff.ok(
        "send", thread_id=thread_id, body="later", client_msg_id=key, send_at=iso(clock.now() + timedelta(hours=1))
    )
    # The same key used for a message sent now: the scheduled one can no longer be sent under it.
    await staff.ok("send", thread_id=thread_id, body="now", client_msg_id=key)
    clock.advance(2 * 3600)
    failed = await staff.event("scheduled.updated", scheduled__id=answer["scheduled"]["id"], scheduled__state="failed")
    assert "client_msg_id" in failed["data"]["scheduled"]["error"]


@pytest.mark.parametrize(
    ("send_at", "why"),
    [
        ("2020-01-01T00:00:00Z", "past"),
        ("not a time", "ISO 8601"),
        ("2099-01-01T09:00:00", "time zone"),
    ],
)
async def test_bad_send_at_is_refused(cast: Cast, connect: Connect, send_at: str, why: str) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    answer = await staff.call("send", thread_id=thread_id, body="x", client_msg_id=new_id(), send_at=send_at)
    assert answer["code"] == "bad_request"
    assert why in answer["message"]
    assert (await staff.ok("scheduled.list", thread_id=thread_id))["scheduled"] == []


async def test_more_than_a_year_away_and_clients_are_refused(cast: Cast, connect: Connect, clock: TestClock) -> None:
    staff, client = await connect(cast.token(cast.staff)), await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    far = iso(clock.now() + timedelta(days=400))
    answer = await staff.call("send", thread_id=thread_id, body="x", client_msg_id=new_id(), send_at=far)
    assert answer["code"] == "bad_request"
    assert "year" in answer["message"]
    soon = iso(clock.now() + timedelta(hours=1))
    answer = await client.call("send", thread_id=thread_id, body="x", client_msg_id=new_id(), send_at=soon)
    assert answer["code"] == "bad_request"
    other = await connect(cast.token(cast.other_client))
    assert (await other.call("scheduled.cancel", scheduled_id=1))["code"] in ("not_found", "bad_request")


async def test_the_same_key_schedules_once(cast: Cast, connect: Connect, clock: TestClock) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    key, at = new_id(), iso(clock.now() + timedelta(hours=3))
    one = await staff.ok("send", thread_id=thread_id, body="once", client_msg_id=key, send_at=at)
    two = await staff.ok("send", thread_id=thread_id, body="once", client_msg_id=key, send_at=at)
    assert one["scheduled"]["id"] == two["scheduled"]["id"]
    assert len((await staff.ok("scheduled.list", thread_id=thread_id))["scheduled"]) == 1


async def test_the_http_api_schedules_lists_edits_and_cancels(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    headers = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        made = await http.post(
            f"/api/threads/{thread_id}/messages",
            json={"body": "via http", "client_msg_id": new_id(), "send_at": iso(clock.now() + timedelta(days=2))},
        )
        assert made.status_code == 201, made.text
        scheduled_id = made.json()["scheduled"]["id"]
        listed = await http.get("/api/scheduled", params={"thread_id": thread_id})
        assert [s["id"] for s in listed.json()["scheduled"]] == [scheduled_id]
        edited = await http.patch(f"/api/scheduled/{scheduled_id}", json={"body": "via http, edited"})
        assert edited.json()["scheduled"]["body"] == "via http, edited"
        bad = await http.patch(f"/api/scheduled/{scheduled_id}", json={"send_at": "yesterday"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "bad_request"
        cancelled = await http.delete(f"/api/scheduled/{scheduled_id}")
        assert cancelled.json()["scheduled"]["state"] == "cancelled"
        assert (await http.delete(f"/api/scheduled/{scheduled_id}")).status_code == 409


async def test_metrics_tell_how_late_due_work_started(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await schedule(staff, thread_id, iso(clock.now() + timedelta(minutes=10)), body="late")
    clock.advance(3600)  # the scheduler first sees it 50 minutes after its time
    await staff.event("message.created", message__body="late", timeout=10)
    lag = (await server.metric("chatd_scheduler_lag_seconds"))[()]
    assert 2990 <= lag < 3600
