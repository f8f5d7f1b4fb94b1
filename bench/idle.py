"""Workload C, idle connections: the server's resident memory grown by N connected sockets that
only exchange heartbeats, per connection. A fresh server each run, so nothing earlier is counted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench import machine
from bench.workload import Target, connect_many
from protocol.values import Role
from tests.support import new_firm, seeder

WARM_UP = 20


async def client_tokens(target: Target, data_dir: Path, users: int) -> list[str | None]:
    """Clients, each of their own account: connecting them sends nothing to anyone else."""
    async with seeder(data_dir, target.chatd[0].env) as services:
        firm = await new_firm(services)
        return [await firm.token(await firm.user(Role.CLIENT)) for _ in range(users)]


async def measure(target: Target, tokens: list[str | None], connections: int) -> dict[str, Any]:
    [pid] = target.pids
    # A few connections first, so one-off costs (imports, caches, the first session) are not counted.
    warm = await connect_many(target, [tokens[i % len(tokens)] for i in range(WARM_UP)], [None] * WARM_UP)
    await asyncio.sleep(1)
    before = machine.rss_bytes(pid)
    crowd = await connect_many(target, [tokens[i % len(tokens)] for i in range(connections)], [None] * connections)
    await asyncio.sleep(2)
    after = machine.rss_bytes(pid)
    alive = sum(not c.closed.done() for c in crowd)
    # The server is killed next: a clean close of thousands of sessions is not what is measured.
    for connection in [*warm, *crowd]:
        connection.abort()
    return {
        "connections": connections,
        "kib_per_connection": (after - before) / connections / 1024,
        "rss_mib": after / 2**20,
        "correct": alive == connections,
    }
