"""Group commit: concurrent sends share a transaction (on SQLite, where writers queue for the one
write lock), yet each send keeps its own outcome. Checked through the WebSocket protocol on both
databases: every send stored once, in per-thread order, with nothing missing; a send that fails
inside the batch fails alone; a key used twice at once stores one message."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import ON_POSTGRESQL, ChatdProcess, WsClient

SENDERS = 4  # connections per user
PER_SENDER = 6


async def commits(server: ChatdProcess) -> float:
    return sum((await server.metric("chatd_commit_seconds_count")).values())


async def burst(connections: list[WsClient], requests: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Each connection sends its requests one after another (a connection answers in order), all
    connections at once; the answers, per connection."""

    async def answer(client: WsClient, frame: dict[str, Any]) -> dict[str, Any]:
        found = await client.call("send", timeout=30, **frame)
        while found.get("code") == "rate_limited":  # waited out, as a client does
            await asyncio.sleep(found["retry_after"])
            found = await client.call("send", timeout=30, **frame)
        return found

    async def one(client: WsClient, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [await answer(client, frame) for frame in frames]

    return list(await asyncio.gather(*(one(c, r) for c, r in zip(connections, requests, strict=True))))


async def test_concurrent_sends_are_each_stored_once_in_per_thread_order(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    threads = [(await open_thread(staff, cast.client))["thread"]["id"] for _ in range(3)]
    watcher = await connect(cast.token(cast.staff2))  # sees every thread of the firm
    senders = [await connect(cast.token(user)) for user in (cast.staff, cast.client) for _ in range(SENDERS)]
    requests = [
        [
            {"thread_id": threads[(s + n) % len(threads)], "body": f"s{s} n{n}", "client_msg_id": new_id()}
            for n in range(PER_SENDER)
        ]
        for s in range(len(senders))
    ]
    before = await commits(server)
    answers = await burst(senders, requests)
    total = len(senders) * PER_SENDER
    assert all(a["op"] == "ok" for per in answers for a in per), answers
    sent = {a["result"]["message"]["body"]: a["result"]["message"] for per in answers for a in per}
    assert len(sent) == total
    assert len({m["id"] for m in sent.values()}) == total
    if not ON_POSTGRESQL:
        # The sends shared transactions: fewer commits than sends (background jobs commit too).
        assert await commits(server) - before < total

    for thread_id in threads:
        ours = sorted(m["id"] for m in sent.values() if m["thread_id"] == thread_id)
        page = (await staff.ok("history", thread_id=thread_id, limit=100))["messages"]
        stored = [m for m in page if m["id"] in ours or m["body"] in sent]
        assert [m["id"] for m in stored] == ours  # each once, in id order, none missing
        assert all(sent[m["body"]]["id"] == m["id"] for m in stored)

    def created(frame: dict[str, Any]) -> bool:
        return frame.get("type") == "message.created" and frame["data"]["message"]["body"] in sent

    for _ in range(100):
        if len([e for e in watcher.events if created(e)]) >= total:
            break
        await asyncio.sleep(0.1)
    live = [e for e in watcher.events if created(e)]
    assert len(live) == total  # each delivered once
    assert [e["event_id"] for e in live] == sorted(e["event_id"] for e in live)
    for thread_id in threads:
        ids = [e["data"]["message"]["id"] for e in live if e["data"]["message"]["thread_id"] == thread_id]
        assert ids == sorted(ids)  # a thread's messages arrive in their id order

    # A client resuming from before the burst replays the same events, each once, in order.
    replayer = await connect(cast.token(cast.staff2))
    await replayer.ok("resume", after_event_id=min(e["event_id"] for e in live) - 1)
    assert [e["event_id"] for e in replayer.events if created(e)] == [e["event_id"] for e in live]


async def test_a_send_failing_among_concurrent_ones_fails_alone(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    senders = [await connect(cast.token(cast.staff)) for _ in range(6)]
    # Task to nobody: refused after the message row and its event were written in the batch.
    bad = {"thread_id": thread_id, "body": "bad one", "client_msg_id": new_id(), "task": {"assignee_id": 10**9}}
    requests = [
        [{"thread_id": thread_id, "body": f"good {s}.{n}", "client_msg_id": new_id()} for n in range(4)]
        for s in range(len(senders))
    ]
    requests[2].insert(2, bad)
    answers = await burst(senders, requests)
    refused = answers[2].pop(2)
    assert refused["op"] == "error"
    assert refused["code"] == "not_found"
    assert [a for per in answers for a in per if a["op"] != "ok"] == []
    good = sorted(a["result"]["message"]["id"] for per in answers for a in per if a["op"] == "ok")
    assert len(good) == 6 * 4
    page = (await staff.ok("history", thread_id=thread_id, limit=100))["messages"]
    assert [m["id"] for m in page if m["body"].startswith("good ")] == good
    assert [m for m in page if m["body"] == "bad one"] == []
    # Its key is free: the same send without the bad task goes through.
    retried = await staff.ok("send", thread_id=thread_id, body="bad one", client_msg_id=bad["client_msg_id"])
    assert retried["message"]["id"] > good[-1]


async def test_a_key_used_twice_at_once_stores_one_message(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    client_msg_id = new_id()
    same = {"thread_id": thread_id, "body": "only once", "client_msg_id": client_msg_id}
    senders = [await connect(cast.token(cast.client)) for _ in range(6)]
    others = [[{"thread_id": thread_id, "body": f"other {s}", "client_msg_id": new_id()}, same] for s in range(6)]
    answers = [a for per in await burst(senders, others) for a in per]
    kept = {
        a["result"]["message"]["id"]
        for a in answers
        if a["op"] == "ok" and a["result"]["message"]["body"] == "only once"
    }
    # PostgreSQL runs the sends as concurrent transactions: one of two racing inserts of a key may
    # be told to retry (conflict); never is a second message stored.
    assert len(kept) == 1
    assert all(a["code"] == "conflict" for a in answers if a["op"] == "error")
    assert all(
        a["result"]["message"]["client_msg_id"] == client_msg_id
        for a in answers
        if a["op"] == "ok" and a["result"]["message"]["body"] == "only once"
    )
    page = (await staff.ok("history", thread_id=thread_id, limit=100))["messages"]
    assert [m["id"] for m in page if m["body"] == "only once"] == list(kept)
    assert len([m for m in page if m["body"].startswith("other ")]) == 6
