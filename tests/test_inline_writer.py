"""On SQLite, group-committed writes (sends) run their driver calls on the event loop's thread,
where a statement costs a few microseconds instead of a round trip to a driver thread; everything
else stays on driver threads. The loop never waits for SQLite there: when another process holds
the write lock, the batch waits for it on a driver thread, and the server answers meanwhile.
Always on SQLite (its own file), whatever CHATD_TEST_DATABASE says."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from storage import Database, Transaction
from tests.conftest import new_id, open_thread, own_chatd
from tests.support import WsClient

HOLD_S = 1.0  # how long another connection holds the write lock


async def new_database(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    for engine in db.engines:
        # thread_id() in SQL: the thread SQLite runs the statement on.
        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.create_function("thread_id", 0, threading.get_ident)

    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    return db


async def add_note(conn: Transaction, body: str) -> int:
    """Writes a row; the thread SQLite ran it on."""
    await conn.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
    thread: int = (await conn.execute(text("SELECT thread_id()"))).scalar_one()
    return thread


async def test_batched_writes_run_on_the_loop_thread_and_other_work_off_it(tmp_path: Path) -> None:
    db = await new_database(tmp_path / "chatd.db")
    loop_thread = threading.get_ident()
    try:
        async with db.write_batched() as conn:
            assert await add_note(conn, "batched") == loop_thread
        async with db.write() as conn:
            assert await add_note(conn, "write") != loop_thread
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT thread_id()"))).scalar_one() != loop_thread
            assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 2
    finally:
        await db.dispose()


async def test_a_batch_waits_off_the_loop_for_a_write_lock_held_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "chatd.db"
    db = await new_database(path)
    # Another process, say a CLI command; released from a thread, whatever the event loop does.
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    loop_thread = threading.get_ident()

    async def batched(body: str) -> int:
        async with db.write_batched() as conn:
            return await add_note(conn, body)

    try:
        await batched("before")  # the loop's connection is open before the lock is taken
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO notes (body) VALUES ('other')")
        release = threading.Timer(HOLD_S, lambda: other.execute("COMMIT"))
        release.start()
        waiting = asyncio.ensure_future(batched("waited"))
        ticks = 0
        while not waiting.done():
            await asyncio.sleep(0.01)
            ticks += 1
        release.join()
        # Not waited for on the loop (it would have taken the lock there once released): on a
        # driver thread, while the loop ran on.
        assert await waiting != loop_thread
        assert ticks > 1
        assert await batched("after") == loop_thread  # the lock is free: on the loop again
        async with db.read() as conn:
            bodies = (await conn.execute(text("SELECT body FROM notes ORDER BY id"))).scalars().all()
        assert bodies == ["before", "other", "waited", "after"]
    finally:
        other.close()
        await db.dispose()


async def test_sends_wait_for_a_write_lock_held_elsewhere_while_the_server_answers(tmp_path: Path) -> None:
    path = tmp_path / "chatd.db"
    async with own_chatd(tmp_path, {"CHATD_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}) as (server, cast):
        staff = await WsClient.connect(server.ws_url, cast.token(cast.staff))
        client = await WsClient.connect(server.ws_url, cast.token(cast.client))
        try:
            thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
            await client.ok("send", thread_id=thread_id, body="first", client_msg_id=new_id())
            other = sqlite3.connect(path, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                sends = [
                    asyncio.ensure_future(
                        client.call("send", timeout=30, thread_id=thread_id, body=f"held {n}", client_msg_id=new_id())
                    )
                    for n in range(3)
                ]
                # The server answers other requests while the sends wait for the lock.
                page = (await staff.ok("history", thread_id=thread_id, limit=10))["messages"]
                assert [m["body"] for m in page if m["body"].startswith("held")] == []
                await staff.ok("typing", thread_id=thread_id)
                assert not any(send.done() for send in sends)
            finally:
                other.execute("COMMIT")
                other.close()
            answers = await asyncio.gather(*sends)
            assert [a["op"] for a in answers] == ["ok"] * 3, answers
            ids = [a["result"]["message"]["id"] for a in answers]
            for n, message_id in enumerate(ids):
                await staff.event("message.created", timeout=10, message__id=message_id, message__body=f"held {n}")
            page = (await staff.ok("history", thread_id=thread_id, limit=10))["messages"]
            assert [m["id"] for m in page if m["body"].startswith("held")] == sorted(ids)
        finally:
            await staff.close()
            await client.close()
