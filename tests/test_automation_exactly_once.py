"""Reply reminders and recurring occurrences are done once when two chatd processes share the
database: 100 threads, each with a reminder and a weekly recurring message coming due."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from chatd.services.context import Services
from storage import due as due_store
from storage.models import Message
from tests.conftest import make_cast, new_id
from tests.mail import MailServer
from tests.support import ChatdProcess, seeder
from tests.timing import TestClock

THREADS = 100
WEEK = 7 * 86400.0


async def _arm(services: Services) -> tuple[list[int], str]:
    await services.db.migrate()
    await services.hub.start()
    await services.broker.start(services.hub)
    cast = await make_cast(services)
    staff = await services.directory.account(cast.staff.id)
    assert staff is not None
    thread_ids = []
    for n in range(THREADS):
        thread, _ = await services.conversations.create_thread(
            staff,
            subject=f"Batch {n}",
            body=f"opening {n}",
            client_msg_id=new_id(),
            client_account_id=cast.client.client_account_id,
            participants=[],
        )
        await services.reminders.configure(staff, thread_id=thread.id, enabled=True, interval_days=1, count=1)
        await services.recurring.create(
            staff, thread_id=thread.id, body=f"weekly {n}", rule="0 9 * * mon", time_zone="UTC", ends_on=None
        )
        thread_ids.append(thread.id)
    return thread_ids, cast.client.email


async def _recurring_posted(services: Services) -> dict[int, int]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(Message.thread_id, func.count()).where(Message.automatic == "recurring").group_by(Message.thread_id)
        )
        return {thread_id: count for thread_id, count in rows}


async def _states(services: Services, kind: str) -> dict[str, int]:
    async with services.db.read() as conn:
        return await due_store.count_by_state(conn, [kind])


async def test_two_processes_send_each_reminder_and_occurrence_once(tmp_path: Path) -> None:
    clock = TestClock(tmp_path / "offset")
    mail = MailServer()
    mail.start()
    env = {**clock.env, "CHATD_SMTP_URL": mail.url, "CHATD_PUBLIC_URL": "https://chat.test"}
    try:
        async with seeder(tmp_path, env) as services:
            thread_ids, address = await _arm(services)
            one, two = ChatdProcess(tmp_path, env=env), ChatdProcess(tmp_path, env=env)
            one.start()
            two.start()
            try:
                clock.advance(WEEK)
                deadline = time.monotonic() + 120
                while (
                    (await _states(services, "reply.reminder")).get("done", 0) < THREADS
                    or (await _states(services, "mail.send")).get("done", 0) < THREADS
                    or len(await _recurring_posted(services)) < THREADS
                    or sum(1 for m in mail.to(address) if str(m["Subject"]).startswith("Reminder:")) < THREADS
                ):
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1)  # a moment for anything doubled to show
            finally:
                one.stop()
                two.stop()
            assert await _recurring_posted(services) == {thread_id: 1 for thread_id in thread_ids}
            assert await _states(services, "recurring.send") == {"pending": THREADS}
            reminders = [m for m in mail.to(address) if str(m["Subject"]).startswith("Reminder:")]
            links = Counter(
                next(word for word in str(m.get_body(("plain",)).get_content()).split() if "?thread=" in word)  # type: ignore[union-attr]
                for m in reminders
            )
            assert links == Counter({f"https://chat.test/?thread={thread_id}": 1 for thread_id in thread_ids})
            for process in (one, two):
                assert "Traceback" not in process.log()
    finally:
        mail.stop()
