"""Disconnect, miss events, reconnect and resume: exactly the missed events, in order, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from protocol.values import Role
from scheduler.jobs import prune_events
from tests.conftest import Cast, Connect, make_cast, new_id, open_thread, own_chatd
from tests.support import ChatdProcess, WsClient, new_firm, seeder


async def test_resume_replays_exactly_the_missed_events(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    await client.ok("ping")
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("message.created", message__thread_id=thread_id)
    last_seen = client.events[-1]["event_id"]
    await client.close()

    missed = []
    for n in range(5):
        sent = await staff.ok("send", thread_id=thread_id, body=f"while away {n}", client_msg_id=new_id())
        missed.append(sent["message"]["id"])
    edited = await staff.ok("edit", message_id=missed[0], body="while away 0 (edited)")
    deleted = await staff.ok("delete", message_id=missed[1])
    await staff.ok(
        "send", thread_id=thread_id, body="a note the client must not get", client_msg_id=new_id(), kind="note"
    )

    back = await connect(cast.token(cast.client))
    assert back.hello["event_id"] > last_seen
    result = await back.ok("resume", after_event_id=last_seen)
    everything = [e for e in back.events if e["event_id"] <= back.hello["event_id"]]
    assert result == {"replayed": len(everything)}
    # The client's own notifications of these messages are in the replay too when the scheduler's
    # notification job ran before the reconnect (a matter of timing): not what this test is about.
    replayed = [e for e in everything if e["type"] != "notification"]
    assert [e["type"] for e in replayed] == ["message.created"] * 5 + ["message.updated", "message.deleted"]
    ids = [e["event_id"] for e in replayed]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert [e["data"]["message"]["id"] for e in replayed[:5]] == missed
    assert replayed[5]["data"]["message"]["body"] == edited["message"]["body"]
    assert replayed[6]["data"]["message"]["deleted_at"] == deleted["message"]["deleted_at"]
    # Replay renders rows as they are now: a deleted message's body is gone everywhere.
    assert replayed[1]["data"]["message"]["body"] == ""

    # Then live again, with nothing replayed twice.
    sent = await staff.ok("send", thread_id=thread_id, body="welcome back", client_msg_id=new_id())
    await back.event("message.created", message__id=sent["message"]["id"])
    event_ids = [e["event_id"] for e in back.events]
    assert event_ids == sorted(event_ids)
    assert len(set(event_ids)) == len(event_ids)


async def test_live_events_wait_for_the_resume(cast: Cast, connect: Connect) -> None:
    """Events committed after hello are held until the resume is answered, so order holds."""
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    client = await connect(cast.token(cast.client))
    anchor = client.hello["event_id"]
    await client.close()
    await staff.ok("send", thread_id=thread_id, body="missed", client_msg_id=new_id())
    back = await connect(cast.token(cast.client))
    await staff.ok("send", thread_id=thread_id, body="live after hello", client_msg_id=new_id())
    await back.ok("resume", after_event_id=anchor)
    await back.event("message.created", message__body="live after hello")
    bodies = [e["data"]["message"]["body"] for e in back.events if e["type"] == "message.created"]
    assert bodies == ["missed", "live after hello"]
    ok_index = next(i for i, f in enumerate(back.frames) if f.get("op") == "ok")
    live_index = next(
        i
        for i, f in enumerate(back.frames)
        if f.get("type") == "message.created" and f["data"]["message"]["body"] == "live after hello"
    )
    assert live_index > ok_index


async def test_resume_with_nothing_missed_replays_nothing(cast: Cast, connect: Connect) -> None:
    client = await connect(cast.token(cast.client))
    assert await client.ok("resume", after_event_id=client.hello["event_id"]) == {"replayed": 0}


async def test_resume_on_another_process_of_the_same_database(tmp_path: Path) -> None:
    """The event log lives in SQL: a process that never saw the events replays them."""
    first = ChatdProcess(tmp_path)
    first.start()
    second = ChatdProcess(tmp_path)
    second.start()
    try:
        async with seeder(tmp_path, {}) as services:
            cast = await make_cast(services)
        staff = await WsClient.connect(first.ws_url, cast.token(cast.staff))
        client = await WsClient.connect(first.ws_url, cast.token(cast.client))
        await client.ok("ping")
        thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
        await client.event("message.created")
        anchor = client.events[-1]["event_id"]
        await client.close()
        await staff.ok("send", thread_id=thread_id, body="sent on process one", client_msg_id=new_id())
        back = await WsClient.connect(second.ws_url, cast.token(cast.client))
        replayed = (await back.ok("resume", after_event_id=anchor))["replayed"]
        # The client's new-message notification, if the fan-out job made it already, is replayed too.
        bodies = [e["data"]["message"]["body"] for e in back.events[:replayed] if e["type"] == "message.created"]
        assert bodies == ["sent on process one"]
        await staff.close()
        await back.close()
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("reason", ["too_many", "pruned"])
async def test_resync_required_past_what_is_kept(tmp_path: Path, reason: str) -> None:
    process = ChatdProcess(tmp_path, env={"CHATD_MAX_REPLAY_EVENTS": "3"})
    process.start()
    try:
        async with seeder(tmp_path, process.env) as services:
            firm = await new_firm(services)
            staff_user = await firm.user(Role.STAFF)
            client_user = await firm.user(Role.CLIENT)
            staff = await WsClient.connect(process.ws_url, await firm.token(staff_user))
            thread_id = (await open_thread(staff, client_user))["thread"]["id"]
            anchor = staff.hello["event_id"]
            count = 4 if reason == "too_many" else 1
            for n in range(count):
                await staff.ok("send", thread_id=thread_id, body=f"m{n}", client_msg_id=new_id())
            if reason == "pruned":
                later = services.clock.now() + timedelta(days=31)
                assert await prune_events(services.db, lambda: later, timedelta(days=30)) > 0
            client = await WsClient.connect(process.ws_url, await firm.token(client_user))
            answer = await client.call("resume", after_event_id=anchor)
            assert answer["op"] == "error"
            assert answer["code"] == "resync_required"
            assert answer["id"] is not None
            # Nothing replayed (the client's notifications of those messages may arrive live).
            assert [e for e in client.events if e["type"] != "notification"] == []
            # The client refetches instead, and everything is there.
            history = await client.ok("history", thread_id=thread_id)
            assert len(history["messages"]) == count + 1
            await staff.close()
            await client.close()
    finally:
        process.stop()


async def test_a_replay_longer_than_the_outbound_queue_completes(tmp_path: Path) -> None:
    settings = {"CHATD_OUTBOUND_QUEUE": "5", "CHATD_REQUESTS_PER_SECOND": "1000"}
    async with own_chatd(tmp_path, settings) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff))
        thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
        anchor = staff.hello["event_id"]
        for n in range(30):
            await staff.ok("send", thread_id=thread_id, body=f"m{n}", client_msg_id=new_id())
        client = await WsClient.connect(process.ws_url, cast.token(cast.client))
        replayed = (await client.ok("resume", after_event_id=anchor))["replayed"]
        # The client's new-message notifications may come due before it connects; they replay too.
        old_events = [e for e in client.events if e["event_id"] <= client.hello["event_id"]]
        assert replayed == len(old_events)
        assert sum(e["type"] != "notification" for e in old_events) == 32
        bodies = [e["data"]["message"]["body"] for e in client.events if e["type"] == "message.created"]
        assert bodies[1:] == [f"m{n}" for n in range(30)]
        await staff.close()
        await client.close()


async def test_a_late_resume_repeats_nothing(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    anchor = staff.hello["event_id"]
    client = await connect(cast.token(cast.client))
    await client.ok("ping")
    sent = await staff.ok("send", thread_id=thread_id, body="live", client_msg_id=new_id())
    await client.event("message.created", message__id=sent["message"]["id"])
    await client.ok("resume", after_event_id=anchor)
    event_ids = [e["event_id"] for e in client.events]
    assert len(event_ids) == len(set(event_ids))
    assert sum(e["type"] == "thread.created" for e in client.events) == 1


async def test_concurrent_resumes_of_different_users_each_replay_what_they_may_see(
    cast: Cast, connect: Connect
) -> None:
    """A reconnect storm's replays are rendered together (chatd/services/events.py,
    SharedRendering): each user still gets only the events it may see, in its own variant."""
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("message.created", message__thread_id=thread_id)
    since = client.events[-1]["event_id"]
    staff_key, note_key, client_key = new_id(), new_id(), new_id()
    to_client = await staff.ok("send", thread_id=thread_id, body="to the client", client_msg_id=staff_key)
    note = await staff.ok("send", thread_id=thread_id, body="staff only", client_msg_id=note_key, kind="note")
    from_client = await client.ok("send", thread_id=thread_id, body="from the client", client_msg_id=client_key)
    await staff.event("message.created", message__id=from_client["message"]["id"])

    back = [await connect(cast.token(user)) for user in (cast.staff, cast.staff2, cast.client, cast.client)]
    for resumed in await asyncio.gather(*(b.ok("resume", after_event_id=since) for b in back)):
        assert resumed["replayed"] >= 2
    ids = {"to": to_client["message"]["id"], "note": note["message"]["id"], "from": from_client["message"]["id"]}

    def replayed(ws: WsClient) -> dict[int, str | None]:
        """Each replayed message's id and the client_msg_id shown with it."""
        return {
            e["data"]["message"]["id"]: e["data"]["message"].get("client_msg_id")
            for e in ws.events
            if e["type"] == "message.created" and since < e["event_id"] <= ws.hello["event_id"]
        }

    author, colleague, *clients = back
    assert replayed(author) == {ids["to"]: staff_key, ids["note"]: note_key, ids["from"]: None}
    assert replayed(colleague) == {ids["to"]: None, ids["note"]: None, ids["from"]: None}
    for ws in clients:
        assert replayed(ws) == {ids["to"]: None, ids["from"]: client_key}
