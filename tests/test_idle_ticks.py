"""Scheduled jobs that find nothing to do commit nothing: each checks by a read first. On SQLite
every write queues for the one write lock, and the six jobs of each tick (due work, deliveries,
notification fan-out, webhooks, follow-ups, urgent re-notifications) took it all at once, whether
or not anything was due: sends arriving then waited behind them (docs/performance.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import new_id, open_thread, own_chatd
from tests.support import ChatdProcess, WsClient

TICK_MS = 50
QUIET_S = 1.0  # twenty ticks


async def commits(server: ChatdProcess) -> float:
    return sum((await server.metric("chatd_commit_seconds_count")).values())


async def test_ticks_with_nothing_due_commit_nothing(tmp_path: Path) -> None:
    async with own_chatd(tmp_path, {"CHATD_SCHEDULER_TICK_MS": str(TICK_MS)}) as (server, cast):
        staff = await WsClient.connect(server.ws_url, cast.token(cast.staff))
        client = await WsClient.connect(server.ws_url, cast.token(cast.client))
        try:
            # Work for the jobs first: a new message, fanned out into a notification.
            sent = await open_thread(staff, cast.client)
            await client.event("notification", notification__message_id=sent["message"]["id"], timeout=30)
            # Then the jobs' last writes (the webhook cursor past the notification's event) and quiet.
            counts = [await commits(server)]
            for _ in range(20):
                await asyncio.sleep(QUIET_S)
                counts.append(await commits(server))
                if counts[-1] == counts[-2]:
                    break
            assert counts[-1] == counts[-2], f"commits kept coming with nothing due: {counts}"
            # Still working: a message sent now is fanned out as before.
            again = await staff.ok(
                "send", thread_id=sent["thread"]["id"], body="After the quiet", client_msg_id=new_id()
            )
            await client.event("notification", notification__message_id=again["message"]["id"], timeout=30)
        finally:
            await staff.close()
            await client.close()
