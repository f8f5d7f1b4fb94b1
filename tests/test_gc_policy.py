"""The server keeps the garbage collector's passes rare once started (chatd.server.settle_heap):
with CPython's defaults, young passes promoted what in-flight sends held to the old generation,
whose full passes then walked every connection's objects (150 to 500 ms stalls with 2,000
connections, docs/performance.md). Counted from the server's own /metrics."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import new_id, open_thread, own_chatd
from tests.support import ChatdProcess, WsClient

SENDS = 200


async def collections(server: ChatdProcess) -> dict[str, float]:
    """Garbage collector passes so far, by generation."""
    passes = await server.metric("python_gc_collections_total")
    return {dict(labels)["generation"]: value for labels, value in passes.items()}


async def test_sends_cause_few_collector_passes(tmp_path: Path) -> None:
    # What the sends allocate, not the scheduler's ticks: those allocate by the second, and at the
    # 200 ms default a slow run's 55 ticks filled the young generation once more (PostgreSQL, CI).
    async with own_chatd(tmp_path, {"CHATD_SCHEDULER_TICK_MS": "60000"}) as (server, cast):
        staff = await WsClient.connect(server.ws_url, cast.token(cast.staff))
        try:
            thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
            before = await collections(server)
            for n in range(SENDS):
                await staff.ok("send", thread_id=thread_id, body=f"message {n}", client_msg_id=new_id())
            after = await collections(server)
        finally:
            await staff.close()
    # CPython's defaults make about one young pass per 25 sends here (8 for 200 sends); settled,
    # the young generation does not fill up in 200 sends (at most one pass: it may have been nearly full).
    assert after["0"] - before["0"] <= 1
    assert after["2"] == before["2"]
