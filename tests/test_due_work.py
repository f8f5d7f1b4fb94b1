"""Due work is done exactly once: two chatd processes on one database share 500 due sends, and a
process killed while items are due leaves nothing undone or doubled after a restart."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from chatd.services.context import Services
from protocol.values import MessageKind, ScheduledState
from storage import due as due_store
from storage.models import Message, ScheduledMessage
from tests.conftest import make_cast, new_id
from tests.support import ChatdProcess, seeder
from tests.timing import TestClock, iso


async def _schedule_many(services: Services, count: int, clock: TestClock) -> int:
    """Schedule through the service itself (an in-process broker delivers its events to no one)."""
    await services.db.migrate()
    await services.hub.start()
    await services.broker.start(services.hub)
    cast = await make_cast(services)
    staff = await services.directory.account(cast.staff.id)
    assert staff is not None
    thread, _ = await services.conversations.create_thread(
        staff,
        subject="Batch",
        body="opening",
        client_msg_id=new_id(),
        client_account_id=cast.client.client_account_id,
        participants=[],
    )
    send_at = iso(clock.now() + timedelta(minutes=10))
    for n in range(count):
        await services.scheduled_sends.schedule(
            staff,
            thread_id=thread.id,
            body=f"due {n}",
            client_msg_id=new_id(),
            kind=MessageKind.MESSAGE,
            send_at=send_at,
            cancel_if_client_writes=False,
            attachment_ids=[],
        )
    return thread.id


async def _states(services: Services) -> dict[str, int]:
    async with services.db.read() as conn:
        return await due_store.count_by_state(conn, ["scheduled.send"])


async def _wait_all_done(services: Services, count: int, stall: float = 60) -> None:
    """Until ``count`` are done; fails when none gets done for ``stall`` seconds (a loaded machine
    is slow, a stuck scheduler makes no progress at all)."""
    done, progress_at = -1, time.monotonic()
    while (now_done := (await _states(services)).get("done", 0)) < count:
        if now_done > done:
            done, progress_at = now_done, time.monotonic()
        assert time.monotonic() - progress_at < stall, await _states(services)
        await asyncio.sleep(0.2)


async def _check_exactly_once(services: Services, thread_id: int, count: int) -> None:
    async with services.db.read() as conn:
        bodies = list(
            await conn.scalars(select(Message.body).where(Message.thread_id == thread_id, Message.body.like("due %")))
        )
        states = dict(
            list(await conn.execute(select(ScheduledMessage.state, func.count()).group_by(ScheduledMessage.state)))
        )
    assert sorted(bodies) == sorted(f"due {n}" for n in range(count))
    assert states == {ScheduledState.SENT.value: count}
    assert await _states(services) == {"done": count}


async def test_two_processes_do_each_due_item_once(tmp_path: Path) -> None:
    clock = TestClock(tmp_path / "offset")
    env = clock.env
    async with seeder(tmp_path, env) as services:
        thread_id = await _schedule_many(services, 500, clock)
        one, two = ChatdProcess(tmp_path, env=env), ChatdProcess(tmp_path, env=env)
        one.start()
        two.start()
        try:
            clock.advance(3600)
            await _wait_all_done(services, 500)
        finally:
            one.stop()
            two.stop()
        await _check_exactly_once(services, thread_id, 500)
        for process in (one, two):
            assert "Traceback" not in process.log()


async def test_a_killed_process_leaves_nothing_undone_or_doubled(tmp_path: Path) -> None:
    clock = TestClock(tmp_path / "offset")
    env = clock.env
    async with seeder(tmp_path, env) as services:
        thread_id = await _schedule_many(services, 300, clock)
        clock.advance(3600)  # all due before any process runs
        process = ChatdProcess(tmp_path, env=env)
        process.start()
        deadline = time.monotonic() + 60
        while (await _states(services)).get("done", 0) < 20:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        process.stop(signal.SIGKILL)
        assert (await _states(services)).get("pending", 0) > 0, "killed too late to prove anything"
        process.start()
        try:
            await _wait_all_done(services, 300)
        finally:
            process.stop()
        await _check_exactly_once(services, thread_id, 300)
