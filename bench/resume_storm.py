"""Workload D, resume storm: C clients miss M messages, then all reconnect at once and ``resume``.
Measured: the time from the first connect until the last client has its ``resume`` answered (it
is live). Checked: each client got exactly the M missed messages, in order, then one live message
once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import machine
from bench.rawws import RawWs
from bench.workload import Target, close_all, connect_many, create_thread, decode, encode, post_message, until
from protocol.values import Role
from tests.support import new_firm, seeder


@dataclass
class Setup:
    writer: str
    readers: list[str | None]
    thread_id: int


async def seed(target: Target, data_dir: Path, users: int) -> Setup:
    """Client users of one client account (several connections each) read its thread; one of them
    writes, over HTTP."""
    async with seeder(data_dir, target.chatd[0].env) as services:
        firm = await new_firm(services)
        client = await firm.user(Role.CLIENT)
        writer = await firm.token(client)
        account = client.client_account_id
        readers = [await firm.token(await firm.user(Role.CLIENT, client_account_id=account)) for _ in range(users)]
    async with httpx.AsyncClient(base_url=target.base_url) as http:
        thread_id = await create_thread(http, writer, client_account_id=None)
    return Setup(writer, list(readers), thread_id)


@dataclass
class Reader:
    bodies: list[str] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    hello_event_id: int | None = None
    replayed: int | None = None
    live_at: float | None = None

    def on_frame(self, now: float, payload: bytes) -> None:
        frame = decode(payload)
        op = frame.get("op")
        if op == "hello":
            self.hello_event_id = frame["event_id"]
        elif op == "event" and frame["type"] == "message.created":
            self.bodies.append(frame["data"]["message"]["body"])
            self.event_ids.append(frame["event_id"])
        elif op == "ok" and frame.get("id") == 1:
            self.replayed = frame["result"]["replayed"]
            self.live_at = now


async def _connections_gone(http: httpx.AsyncClient) -> None:
    async def count() -> float:
        metrics = (await http.get("/metrics")).text
        return float(next(line.split()[1] for line in metrics.splitlines() if line.startswith("chatd_connections ")))

    for _ in range(600):
        if await count() == 0:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("sessions still open a minute after their clients left")


async def storm(target: Target, setup: Setup, clients: int, missed: int, tag: str) -> dict[str, Any]:
    tokens = [setup.readers[i % len(setup.readers)] for i in range(clients)]
    first = [Reader() for _ in range(clients)]
    await close_all(await connect_many(target, tokens, [r.on_frame for r in first]))
    after = min(r.hello_event_id or 0 for r in first)
    async with httpx.AsyncClient(base_url=target.base_url, timeout=60) as http:
        await _connections_gone(http)
        expected = [f"{tag}-{n}" for n in range(missed)]
        for body in expected:
            await post_message(http, setup.writer, setup.thread_id, body)

        readers = [Reader() for _ in range(clients)]

        async def reconnect(i: int) -> RawWs | None:
            try:
                conn = await RawWs.connect(
                    "127.0.0.1",
                    target.ports[0],
                    "/ws",
                    token=tokens[i],
                    subprotocol=target.subprotocol,
                    on_frame=readers[i].on_frame,
                )
            except OSError:  # refused or reset under the storm: counted as dropped
                return None
            conn.send_text(encode({"op": "resume", "id": 1, "after_event_id": after}))
            return conn

        with machine.measured(target.pids) as window:
            started = time.perf_counter()
            connections = await asyncio.gather(*(reconnect(i) for i in range(clients)))
            # A connection the server closed (or dropped) before its answer is counted, not waited for.
            await until(
                lambda: all(
                    r.live_at is not None or c is None or c.closed.done()
                    for r, c in zip(readers, connections, strict=True)
                ),
                300,
                "every client live again",
            )
        all_live_s = max(r.live_at or 0 for r in readers) - started
        dropped = sum(r.live_at is None for r in readers)
        await post_message(http, setup.writer, setup.thread_id, f"{tag}-live")
        await until(
            lambda: all(len(r.bodies) > missed or r.live_at is None for r in readers), 60, "the live message delivered"
        )
        await asyncio.sleep(0.5)
    await close_all([c for c in connections if c is not None])
    wanted = [*expected, f"{tag}-live"]
    wrong = [r for r in readers if r.live_at is not None and r.bodies != wanted]
    disordered = sum(r.event_ids != sorted(set(r.event_ids)) for r in readers)
    correct = dropped == 0 and not wrong and disordered == 0
    return {
        "clients": clients,
        "missed": missed,
        "all_live_s": all_live_s,
        "dropped": dropped,
        "wrong": len(wrong),
        "disordered": disordered,
        # What one client with the wrong messages got: missing and duplicated bodies.
        "example": {
            "missing": sorted(set(wanted) - set(wrong[0].bodies))[:5],
            "duplicated": sorted({b for b in wrong[0].bodies if wrong[0].bodies.count(b) > 1})[:5],
        }
        if wrong
        else None,
        "server_cpu": window.server_cpu,
        "generator_cpu": window.generator_cpu,
        "server_starved": window.server_starved,
        "generator_starved": window.generator_starved,
        "correct": correct,
    }
