"""Per-message options (private, copies, remarks, tasks, urgent with acknowledgement), the client
card, firm settings, and the timed inbox work (follow-ups, re-notification) with the clock moved."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from protocol.values import Role
from tests.conftest import Cast, Connect, new_id, open_thread, own_chatd
from tests.support import WsClient
from tests.timing import TestClock


async def test_private_messages_copies_and_remarks(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    client = await connect(cast.token(cast.client))
    thread = (await open_thread(staff, cast.client))["thread"]["id"]
    await staff2.ok("ping")
    await client.ok("ping")

    # Private to the client: staff2 (who sees the thread) never hears of it.
    private = await staff.ok(
        "send", thread_id=thread, body="Your personal code is 4471", client_msg_id=new_id(), private_to=cast.client.id
    )
    message_id = private["message"]["id"]
    got = await client.event("message.created", message__id=message_id)
    assert got["data"]["message"]["private_to"] == cast.client.id
    assert [e for e in await staff2.quiet(0.3) if e.get("data", {}).get("message", {}).get("id") == message_id] == []
    assert message_id not in [m["id"] for m in (await staff2.ok("history", thread_id=thread))["messages"]]
    assert (await staff2.call("edit", message_id=message_id, body="x"))["code"] == "not_found"

    # A remark from the client: staff (not manager) never see it; owners and managers do, in their view.
    remark = await client.ok(
        "send", thread_id=thread, body="Replies are too slow", client_msg_id=new_id(), kind="remark"
    )
    remark_id = remark["message"]["id"]
    assert remark_id not in [m["id"] for m in (await staff.ok("history", thread_id=thread))["messages"]]
    assert (await staff.call("remarks"))["code"] == "forbidden"
    manager = await cast.firm.user(Role.MANAGER)
    manager_ws = await connect(await cast.firm.token(manager))
    listed = (await manager_ws.ok("remarks"))["messages"]
    assert remark_id in [m["id"] for m in listed]
    assert (await staff.call("send", thread_id=thread, body="x", client_msg_id=new_id(), kind="remark"))[
        "code"
    ] == "bad_request"

    # Copies join the thread.
    other_staff = await cast.firm.user(Role.STAFF)
    copied = await staff.ok("send", thread_id=thread, body="FYI", client_msg_id=new_id(), cc=[other_staff.id])
    assert copied["message"]["cc"] == [other_staff.id]
    # Naming a client of another account, or someone of another firm: refused, nothing stored.
    bad = await staff.call("send", thread_id=thread, body="x", client_msg_id=new_id(), cc=[cast.other_client.id])
    assert bad["code"] == "bad_request"
    bad = await staff.call("send", thread_id=thread, body="x", client_msg_id=new_id(), private_to=10**9)
    assert bad["code"] == "not_found"


async def test_tasks_from_a_reply_listed_done_and_their_history(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    thread = (await open_thread(staff, cast.client))["thread"]["id"]
    reply = await staff.ok(
        "send",
        thread_id=thread,
        body="Please file the VAT return",
        client_msg_id=new_id(),
        task={"assignee_id": cast.staff2.id, "due_on": "2030-01-31"},
    )
    event = await staff2.event("task.updated", task__message_id=reply["message"]["id"])
    task = event["data"]["task"]
    assert task["assignee_id"] == cast.staff2.id
    assert task["due_on"] == "2030-01-31"
    mine = (await staff2.ok("tasks"))["tasks"]
    assert task["id"] in [t["id"] for t in mine]
    await staff2.ok("task.update", task_id=task["id"], done=True)
    assert task["id"] not in [t["id"] for t in (await staff2.ok("tasks"))["tasks"]]
    assert task["id"] in [t["id"] for t in (await staff2.ok("tasks", status="done"))["tasks"]]
    await staff.ok("task.update", task_id=task["id"], due_on="2030-02-15", done=False)
    history = (await staff.ok("task.history", task_id=task["id"]))["changes"]
    assert [h["change"] for h in history][1:] == [{"done": True}, {"due_on": "2030-02-15", "done": False}]
    # Make an earlier message a task; twice is a conflict; a task for someone of another account is refused.
    first = (await staff.ok("history", thread_id=thread))["messages"][0]["id"]
    made = await staff.ok("task.create", message_id=first, assignee_id=cast.staff.id)
    assert made["task"]["due_on"] is None
    assert (await staff.call("task.create", message_id=first, assignee_id=cast.staff.id))["code"] == "conflict"
    bad = await staff.call("task.create", message_id=reply["message"]["id"], assignee_id=cast.other_client.id)
    assert bad["code"] in ("bad_request", "conflict")


async def test_client_card_and_firm_settings(cast: Cast, connect: Connect, server: object) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    thread = (await open_thread(staff, cast.client))["thread"]["id"]
    card = await staff.ok("client.card", client_account_id=cast.client.client_account_id)
    assert card["client"]["id"] == cast.client.client_account_id
    assert cast.client.id in [c["id"] for c in card["client"]["contacts"]]
    assert thread in [t["id"] for t in card["threads"]]
    assert (await staff.call("client.card", client_account_id=10**9))["code"] == "not_found"
    assert (await client.call("client.card", client_account_id=cast.client.client_account_id))["code"] == "forbidden"

    # Only owners change settings; clients may be kept from starting threads.
    assert (await staff.call("firm.settings.update", clients_may_start_threads=False))["code"] == "forbidden"
    owner = await cast.firm.user(Role.OWNER)
    owner_ws = await connect(await cast.firm.token(owner))
    settings = await owner_ws.ok("firm.settings.update", clients_may_start_threads=False)
    assert settings["settings"]["clients_may_start_threads"] is False
    refused = await client.call("thread.create", subject="Hi", body="Question", client_msg_id=new_id())
    assert refused["code"] == "forbidden"
    await owner_ws.ok("firm.settings.update", clients_may_start_threads=True)
    await client.ok("thread.create", subject="Hi", body="Question", client_msg_id=new_id())


async def _setup(tmp_path: Path) -> tuple[TestClock, dict[str, str]]:
    clock = TestClock(tmp_path / "clock")
    return clock, clock.env


async def test_follow_up_comes_back_marked_when_the_clock_moves(tmp_path: Path) -> None:
    clock, env = await _setup(tmp_path)
    async with own_chatd(tmp_path, env) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff))
        staff2 = await WsClient.connect(process.ws_url, cast.token(cast.staff2))
        try:
            thread = (await open_thread(staff, cast.client))["thread"]["id"]
            await staff.ok("threads.act", thread_ids=[thread], action={"type": "assign", "user_id": cast.staff2.id})
            at = (clock.now() + timedelta(days=2)).isoformat()
            await staff.ok("threads.act", thread_ids=[thread], action={"type": "follow_up", "at": at})
            listed = (await staff.ok("threads", folder="follow_up"))["threads"]
            assert [t["id"] for t in listed] == [thread]
            clock.advance(timedelta(days=2, minutes=1).total_seconds())
            back = await staff.event("thread.updated", timeout=10, thread__id=thread, thread__follow_up_due=True)
            assert back["data"]["thread"]["follow_up_at"] is None
            # The assignee was told of the assignment, and is reminded when the date comes.
            assigned = await staff2.event("notification", timeout=5, notification__kind="assignment")
            assert assigned["data"]["notification"]["thread_id"] == thread
            reminded = await staff2.event("notification", timeout=5, notification__kind="follow_up")
            assert reminded["data"]["notification"]["thread_id"] == thread
            assert thread in [t["id"] for t in (await staff.ok("threads", folder="inbox"))["threads"]]
            # Clearing the follow-up removes the mark.
            await staff.ok("threads.act", thread_ids=[thread], action={"type": "follow_up", "at": None})
            assert (await staff.ok("thread.get", thread_id=thread))["thread"]["follow_up_due"] is False
        finally:
            await staff.close()
            await staff2.close()


async def test_urgent_messages_ask_again_until_acknowledged(tmp_path: Path) -> None:
    clock, env = await _setup(tmp_path)
    async with own_chatd(tmp_path, env) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff))
        client = await WsClient.connect(process.ws_url, cast.token(cast.client))
        try:
            thread = (await open_thread(staff, cast.client))["thread"]["id"]
            sent = await staff.ok(
                "send",
                thread_id=thread,
                body="Sign before Friday",
                client_msg_id=new_id(),
                urgent=True,
                ack_requested=True,
            )
            message_id = sent["message"]["id"]
            assert (await staff.ok("thread.get", thread_id=thread))["thread"]["urgent"] is True
            assert (await client.call("send", thread_id=thread, body="x", client_msg_id=new_id(), ack_requested=True))[
                "code"
            ] == "bad_request"
            clock.advance(6 * 60)  # past the default 5 minutes
            reminder = await client.event("notification", timeout=10, notification__kind="reminder")
            assert reminder["data"]["notification"]["message_id"] == message_id
            acked = await client.ok("message.ack", message_id=message_id)
            assert [a["user_id"] for a in acked["acks"]] == [cast.client.id]
            seen = await staff.event("message.acked", message_id=message_id)
            assert seen["data"]["user_id"] == cast.client.id
            assert (await staff.ok("message.acks", message_id=message_id))["acks"][0]["user_id"] == cast.client.id
            # Everyone asked has acknowledged: no more reminders.
            client.events.clear()
            clock.advance(30 * 60)
            later = await client.quiet(1.0)
            assert [
                e for e in later if e["type"] == "notification" and e["data"]["notification"]["kind"] == "reminder"
            ] == []
            async with httpx.AsyncClient(base_url=process.base_url) as http:
                answer = await http.get(
                    f"/api/messages/{message_id}/acks", headers={"Authorization": f"Bearer {cast.token(cast.staff)}"}
                )
            assert answer.status_code == 200
            assert answer.json()["acks"][0]["user_id"] == cast.client.id
        finally:
            await staff.close()
            await client.close()
