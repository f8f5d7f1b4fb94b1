"""Shared reads and batches (chatd/coalesce.py), what a reconnect storm's sessions go through:
concurrent equal questions share one read, small ones go together, and no caller ever gets an
answer from a read that began before it asked."""

from __future__ import annotations

import asyncio

import pytest

from chatd.coalesce import Batched, SharedRead


async def test_concurrent_equal_reads_share_one_and_a_later_caller_waits_for_a_fresh_one() -> None:
    shared: SharedRead[str, int] = SharedRead()
    reads: list[str] = []
    release = asyncio.Event()
    value = 0

    async def read() -> int:
        reads.append("start")
        seen = value  # what the database holds when the read begins
        await release.wait()
        return seen

    first = [asyncio.create_task(shared.get("firm", read)) for _ in range(50)]
    other = asyncio.create_task(shared.get("other firm", read))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert reads == ["start", "start"]  # one per key
    # Asked while the read is under way: it may have missed a change made meanwhile, so this
    # caller gets the next read, not this one.
    value = 1
    late = asyncio.create_task(shared.get("firm", read))
    release.set()
    assert {await t for t in first} == {0}
    assert await other == 0
    assert await late == 1
    assert len(reads) == 3


async def test_a_failed_read_fails_its_callers_only_and_a_gone_caller_does_not_cancel_the_others() -> None:
    shared: SharedRead[int, int] = SharedRead()
    release = asyncio.Event()

    async def failing() -> int:
        await release.wait()
        raise RuntimeError("database down")

    waiting = [asyncio.create_task(shared.get(1, failing)) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # its connection closed
    release.set()
    for task in waiting[1:]:
        with pytest.raises(RuntimeError):
            await task

    async def works() -> int:
        return 7

    assert await shared.get(1, works) == 7


async def test_items_arriving_during_a_batch_go_together_in_the_next() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def run(items: list[int]) -> list[int]:
        batches.append(list(items))
        await release.wait()
        return [item * 10 for item in items]

    batched: Batched[int, int] = Batched(run)
    first = asyncio.create_task(batched.call(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batched.call(n)) for n in range(2, 40)]
    await asyncio.sleep(0)
    assert batches == [[1]]  # one batch at a time: the others wait for it
    release.set()
    assert await first == 10
    assert [await t for t in rest] == [n * 10 for n in range(2, 40)]
    assert batches == [[1], list(range(2, 40))]
