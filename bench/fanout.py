"""Workload A, room fan-out: one thread, N connected participants, one sender.

Saturation is a closed loop: the sender keeps enough messages in flight that neither server waits
for the generator (at least 8, and 20,000 deliveries' worth), and sends the next as soon as one has
reached all N. Latency is an open loop at a fixed rate. Receivers only count event frames (a
connection's k-th ``message.created`` is the k-th message sent), so the generator's cost per
delivery is a few microseconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import machine
from bench.rawws import RawWs
from bench.workload import Target, close_all, connect_many, create_thread, percentile, say, send_frame, until
from protocol.values import Role
from tests.support import new_firm, seeder

MARK = b'"message.created"'


@dataclass
class Room:
    target: Target
    sender_token: str | None
    receiver_tokens: list[str | None]
    thread_id: int


async def chatd_room(target: Target, data_dir: Path, users: int) -> Room:
    """A client sends in its thread; staff users (several connections each) receive."""
    async with seeder(data_dir, target.chatd[0].env) as services:
        firm = await new_firm(services)
        client = await firm.user(Role.CLIENT)
        sender = await firm.token(client)
        staff = [await firm.token(await firm.user(Role.STAFF)) for _ in range(users)]
    async with httpx.AsyncClient(base_url=target.base_url) as http:
        thread_id = await create_thread(http, staff[0], client_account_id=client.client_account_id)
    return Room(target, sender, list(staff), thread_id)


def reference_room(target: Target) -> Room:
    return Room(target, None, [None], 1)


class Run:
    """One measurement: messages sent, deliveries counted per message and per connection."""

    def __init__(self, receivers: int, sender: RawWs, thread_id: int, *, closed_loop: bool) -> None:
        self.n = receivers
        self.sender = sender
        self.thread_id = thread_id
        self.closed_loop = closed_loop
        self.sending = True
        self.sent_at: list[float] = []
        self.delivered: list[int] = []
        self.per_connection = [0] * receivers
        self.deliveries = 0
        self.completed = 0
        self.stray = 0
        self.latencies: list[float] = []

    def send(self) -> None:
        k = len(self.sent_at)
        self.sent_at.append(time.perf_counter())
        self.delivered.append(0)
        self.sender.send_text(send_frame(k + 1, self.thread_id, f"m{k}"))

    def on_frame(self, index: int, now: float, payload: bytes) -> None:
        if MARK not in payload:
            return
        k = self.per_connection[index]
        self.per_connection[index] = k + 1
        if k >= len(self.sent_at):
            self.stray += 1
            return
        self.deliveries += 1
        self.latencies.append(now - self.sent_at[k])
        done = self.delivered[k] + 1
        self.delivered[k] = done
        if done == self.n:
            self.completed += 1
            if self.closed_loop and self.sending:
                self.send()

    def all_delivered(self) -> bool:
        return self.completed == len(self.sent_at)

    def correct(self) -> bool:
        sent = len(self.sent_at)
        return (
            self.stray == 0 and all(d == self.n for d in self.delivered) and all(c == sent for c in self.per_connection)
        )


class Fanout:
    def __init__(self, room: Room) -> None:
        self.room = room
        self.receivers: list[RawWs] = []
        self.sender: RawWs | None = None
        self.run: Run | None = None

    async def grow(self, n: int) -> None:
        room = self.room
        if self.sender is None:
            [self.sender] = await connect_many(room.target, [room.sender_token], [None])
        missing = range(len(self.receivers), n)
        tokens = [room.receiver_tokens[i % len(room.receiver_tokens)] for i in missing]
        self.receivers += await connect_many(room.target, tokens, [self._handler(i) for i in missing])

    def _handler(self, index: int) -> Any:
        def on_frame(now: float, payload: bytes) -> None:
            if self.run is not None:
                self.run.on_frame(index, now, payload)

        return on_frame

    async def saturate(self, seconds: float) -> dict[str, Any]:
        assert self.sender is not None
        run = self.run = Run(len(self.receivers), self.sender, self.room.thread_id, closed_loop=True)
        with machine.measured(self.room.target.pids) as window:
            for _ in range(max(8, 20_000 // len(self.receivers))):
                run.send()
            await asyncio.sleep(seconds)
            deliveries = run.deliveries
        run.sending = False
        await until(run.all_delivered, 60, "every message delivered")
        await asyncio.sleep(0.2)
        return {
            "deliveries_per_s": deliveries / window.seconds,
            "messages_per_s": deliveries / len(self.receivers) / window.seconds,
            "server_cpu": window.server_cpu,
            "generator_cpu": window.generator_cpu,
            "server_starved": window.server_starved,
            "generator_starved": window.generator_starved,
            "correct": run.correct(),
        }

    async def latency(self, rate: float, seconds: float) -> dict[str, Any]:
        assert self.sender is not None
        run = self.run = Run(len(self.receivers), self.sender, self.room.thread_id, closed_loop=False)
        loop = asyncio.get_running_loop()
        with machine.measured(self.room.target.pids) as window:
            start = loop.time()
            for k in range(int(rate * seconds)):
                await asyncio.sleep(max(0.0, start + k / rate - loop.time()))
                run.send()
            await until(run.all_delivered, 60, "every message delivered")
        await asyncio.sleep(0.2)
        return {
            "deliveries_per_s": rate * len(self.receivers),
            "p50_ms": percentile(run.latencies, 0.50) * 1000,
            "p99_ms": percentile(run.latencies, 0.99) * 1000,
            "server_cpu": window.server_cpu,
            "generator_cpu": window.generator_cpu,
            "server_starved": window.server_starved,
            "generator_starved": window.generator_starved,
            "correct": run.correct(),
        }

    async def close(self) -> None:
        await close_all([*self.receivers, *([self.sender] if self.sender else [])])


def report(label: str, result: dict[str, Any]) -> None:
    say(
        f"    {label}: {result['deliveries_per_s']:,.0f} deliveries/s"
        + (f", p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms" if "p99_ms" in result else "")
        + f" (server CPU {result['server_cpu']:.0%}, generator CPU {result['generator_cpu']:.0%};"
        + f" waiting for a core: server {result['server_starved']:.0%}, generator {result['generator_starved']:.0%})"
        + ("" if result["correct"] else " LOSS OR DUPLICATE")
    )
