"""Graceful shutdown and slow consumers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
from pathlib import Path
from typing import Any

from protocol.values import MessageKind
from tests.conftest import make_cast, new_id, open_thread, own_chatd
from tests.support import ChatdProcess, WsClient, seeder


async def test_sigterm_closes_sessions_with_1001_and_loses_nothing(tmp_path: Path) -> None:
    process = ChatdProcess(tmp_path)
    process.start()
    async with seeder(tmp_path, process.env) as services:
        cast = await make_cast(services)
    staff = await WsClient.connect(process.ws_url, cast.token(cast.staff))
    client = await WsClient.connect(process.ws_url, cast.token(cast.client))
    await client.ok("ping")
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    sent = await staff.ok("send", thread_id=thread_id, body="before shutdown", client_msg_id=new_id())
    await client.event("message.created", message__id=sent["message"]["id"])

    code = await asyncio.to_thread(process.stop, signal.SIGTERM)
    # uvicorn re-raises the signal after a clean shutdown, so the exit status is "killed by SIGTERM".
    assert code in (0, -signal.SIGTERM), process.log()
    await asyncio.wait_for(staff.closed.wait(), 5)
    await asyncio.wait_for(client.closed.wait(), 5)
    assert staff.conn.close_code == client.conn.close_code == 1001
    assert "shutting down" in (client.conn.close_reason or "")

    process.start()
    try:
        back = await WsClient.connect(process.ws_url, cast.token(cast.client))
        history = await back.ok("history", thread_id=thread_id)
        assert [m["body"] for m in history["messages"]][-1] == "before shutdown"
        await back.close()
    finally:
        process.stop()


async def test_sigterm_spreads_the_closes_so_the_clients_do_not_reconnect_at_once(tmp_path: Path) -> None:
    """At CHATD_DRAIN_RATE sessions a second: 21 sessions at 10 a second close over about 2 s,
    each with 1001 (without the spread they closed within a few milliseconds)."""
    process = ChatdProcess(tmp_path, env={"CHATD_DRAIN_RATE": "10"})
    process.start()
    async with seeder(tmp_path, process.env) as services:
        cast = await make_cast(services)
    sockets = [await WsClient.connect(process.ws_url, cast.token(cast.client)) for _ in range(20)]
    sockets.append(await WsClient.connect(process.ws_url, cast.token(cast.staff)))
    for ws in sockets:
        await ws.ok("ping")
    loop = asyncio.get_running_loop()

    async def closed_at(ws: WsClient) -> float:
        await ws.closed.wait()
        return loop.time()

    watching = [asyncio.ensure_future(closed_at(ws)) for ws in sockets]
    code = await asyncio.to_thread(process.stop, signal.SIGTERM)
    assert code in (0, -signal.SIGTERM), process.log()
    moments = await asyncio.wait_for(asyncio.gather(*watching), 10)
    assert {ws.conn.close_code for ws in sockets} == {1001}
    assert max(moments) - min(moments) >= 1.0, sorted(m - min(moments) for m in moments)


async def test_a_client_that_never_reads_is_closed_and_others_are_unaffected(tmp_path: Path) -> None:
    # Robust on a loaded machine: only the queue may close the sleeper (no heartbeat from either
    # side while it sleeps), and the test clients send no pings a busy loop could answer late.
    settings = {"CHATD_OUTBOUND_QUEUE": "20", "CHATD_REQUESTS_PER_SECOND": "1000", "CHATD_HEARTBEAT_S": "600"}
    async with own_chatd(tmp_path, settings) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff), ping_interval=None)
        reader = await WsClient.connect(process.ws_url, cast.token(cast.staff2), ping_interval=None)
        await reader.ok("ping")
        thread_id = (await open_thread(staff, cast.client))["thread"]["id"]

        # A client that stops reading after the hello, with a fixed 64 KiB window (no autotuning
        # to tens of MB), so the server's socket backs up after a few MB.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.connect(("127.0.0.1", process.port))
        sleeper = await WsClient.connect(process.ws_url, cast.token(cast.client), sock=sock, ping_interval=None)
        await sleeper.ok("ping")
        sleeper.conn.transport.pause_reading()  # type: ignore[attr-defined]

        # Enough bytes to fill the kernel's loopback buffers (several MB) and then the session's queue.
        body, total = "x" * 9000, 800
        for n in range(total):
            await staff.conn.send(
                staff.encode(
                    {
                        "op": "send",
                        "id": n + 1,
                        "thread_id": thread_id,
                        "body": f"{n} {body}",
                        "client_msg_id": new_id(),
                    }
                )
            )
        await staff.next_frame(lambda f: f.get("id") == total and f.get("op") == "ok", timeout=150)
        await reader.next_frame(
            lambda f: sum(1 for e in reader.events if e["type"] == "message.created") > total, timeout=60
        )
        # The session is closed once its queue overflows, which may come after the reader is done.
        for _ in range(600):
            if "too far behind" in process.log():
                break
            await asyncio.sleep(0.05)
        assert "too far behind" in process.log()
        sleeper.conn.transport.resume_reading()  # type: ignore[attr-defined]
        await asyncio.wait_for(sleeper.closed.wait(), 60)
        assert sleeper.conn.close_code == 4001
        # It reconnects and resumes: nothing lost.
        anchor = max((e["event_id"] for e in sleeper.events), default=sleeper.hello["event_id"])
        back = await WsClient.connect(process.ws_url, cast.token(cast.client), ping_interval=None)
        replayed = (await back.ok("resume", after_event_id=anchor))["replayed"]
        got = {e["data"]["message"]["id"] for e in sleeper.events + back.events if e["type"] == "message.created"}
        assert len(got) == total, (replayed, len(got))  # every message sent after it connected
        for c in (staff, reader, back):
            await c.close()


async def test_a_reading_client_survives_a_server_burst_larger_than_its_queue(tmp_path: Path) -> None:
    """A burst the server makes at once, here far over the queue: the hub filling from SQL the
    messages the seeder stored behind its back, then the notification job's tick of a notification
    per message. The reading client gets all of it once, in order, and is never closed."""
    burst = 60
    settings = {"CHATD_OUTBOUND_QUEUE": "10", "CHATD_REQUESTS_PER_SECOND": "1000", "CHATD_HEARTBEAT_S": "600"}
    async with own_chatd(tmp_path, settings) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff), ping_interval=None)
        thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
        reader = await WsClient.connect(process.ws_url, cast.token(cast.client), ping_interval=None)
        await reader.ok("ping")
        # The notification job has run (its cursor starts where it first finds the event log, so a
        # message sent before its first tick is never notified): every message of the burst is.
        for attempt in range(12):
            marker = await staff.ok("send", thread_id=thread_id, body=f"marker {attempt}", client_msg_id=new_id())
            with contextlib.suppress(TimeoutError):
                await reader.event("notification", timeout=5, notification__message_id=marker["message"]["id"])
                break
        else:
            raise AssertionError("the notification job never ran")
        async with seeder(tmp_path, process.env) as services:  # no bus to the server: it learns from SQL
            author = await services.directory.account(cast.staff.id)
            for n in range(burst):
                await services.conversations.send(
                    author, thread_id=thread_id, body=f"burst {n}", client_msg_id=new_id(), kind=MessageKind.MESSAGE
                )

        def of_burst(kind: str) -> list[dict[str, Any]]:
            return [e for e in reader.events if e["type"] == kind and "burst" in json.dumps(e["data"])]

        def arrived(_: object) -> bool:
            return len(of_burst("message.created")) >= burst and len(of_burst("notification")) >= burst

        await reader.next_frame(arrived, timeout=60)
        assert await reader.ok("ping")  # still open
        bodies = [e["data"]["message"]["body"] for e in of_burst("message.created")]
        assert bodies == [f"burst {n}" for n in range(burst)]
        event_ids = [e["event_id"] for e in reader.events]
        assert event_ids == sorted(set(event_ids))  # in order, none twice
        # Exactly what a resume from the same point replays: nothing skipped while it was behind.
        check = await WsClient.connect(process.ws_url, cast.token(cast.client), ping_interval=None)
        await check.ok("resume", after_event_id=reader.hello["event_id"])
        replayed = [e["event_id"] for e in check.events if e["event_id"] <= event_ids[-1]]
        assert replayed == event_ids
        assert "too far behind" not in process.log()
        for c in (staff, reader, check):
            await c.close()


async def test_a_peer_that_stops_answering_pings_is_dropped(tmp_path: Path) -> None:
    async with own_chatd(tmp_path, {"CHATD_HEARTBEAT_S": "1"}) as (process, cast):
        # ping_interval=None: the test client sends no pings of its own, so only the server's count.
        alive = await WsClient.connect(process.ws_url, cast.token(cast.staff), ping_interval=None)
        dead = await WsClient.connect(process.ws_url, cast.token(cast.client), ping_interval=None)
        assert alive.hello["heartbeat_s"] == 1
        dead.conn.transport.pause_reading()  # type: ignore[attr-defined]
        await asyncio.sleep(3.5)
        sessions = dict(re.findall(r"session (\w+) opened for user (\d+)", process.log()))
        dead_session = next(sid for sid, uid in sessions.items() if int(uid) == cast.client.id)
        alive_session = next(sid for sid, uid in sessions.items() if int(uid) == cast.staff.id)
        assert f"session {dead_session} closed" in process.log()
        assert f"session {alive_session} closed" not in process.log()
        assert await alive.ok("ping")  # the live one is still served after several heartbeats
        await alive.close()
