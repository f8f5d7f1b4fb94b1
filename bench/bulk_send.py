"""Bulk send: one message to N clients (a new thread each) while another connection pings. Reports
threads opened per second and the ping round trips during the job, and checks every thread exists.

    .venv/bin/python -m bench.bulk_send --clients 2000 [--database postgresql]

It starts its own chatd (and a throwaway PostgreSQL cluster with --database postgresql) on free
loopback ports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from protocol.values import Role
from storage import directory as directory_store
from tests.support import ChatdProcess, WsClient, new_firm, postgres_cluster, seeder, stop_postgres_cluster


async def run(clients: int, database: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="chatd-bench-"))
    env = {"CHATD_REQUESTS_PER_SECOND": "100000"}
    with contextlib.ExitStack() as stack:
        if database == "postgresql":
            env["CHATD_DATABASE_URL"] = postgres_cluster().database("bench")
            stack.callback(stop_postgres_cluster)
        server = ChatdProcess(data_dir, env=env)
        server.start()
        stack.callback(server.stop)
        await _load(server, env, clients, database)


async def _load(server: ChatdProcess, env: dict[str, str], clients: int, database: str) -> None:
    async with seeder(server.data_dir, env) as services:
        firm = await new_firm(services, "Bench firm")
        token = await firm.token(await firm.user(Role.STAFF))
        now = services.clock.now()
        async with services.db.write() as conn:
            accounts = [
                await directory_store.create_client_account(conn, firm.id, f"C{i}", now) for i in range(clients)
            ]
    staff = await WsClient.connect(server.ws_url, token)
    pinger = await WsClient.connect(server.ws_url, token)
    began = time.perf_counter()
    bulk = (
        await staff.ok(
            "bulk.send",
            key=uuid.uuid4().hex,
            client_account_ids=accounts,
            subject="Documents for {{ client.name }}",
            body="Dear {{ client.name }}, please send us your **bank statements**.",
        )
    )["bulk"]
    pings: list[float] = []
    final: dict[str, Any] | None = None
    while final is None:
        started = time.perf_counter()
        await pinger.ok("ping")
        pings.append(time.perf_counter() - started)
        final = next(
            (f for f in staff.frames if f.get("type") == "bulk.progress" and f["data"]["bulk"]["state"] == "done"),
            None,
        )
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - began
    results = final["data"]["results"]
    assert len(results) == clients, "a client has no result"
    assert all(r["ok"] for r in results), "a client got no thread"
    assert len({r["thread_id"] for r in results}) == clients, "two clients share a thread"
    assert (await staff.ok("bulk.get", bulk_id=bulk["id"]))["bulk"]["done"] == clients
    pings.sort()
    print(
        f"{database}: bulk send to {clients} clients in {elapsed:.1f} s = {clients / elapsed:.0f} threads/s; "
        f"{len(pings)} pings answered meanwhile, p50 {statistics.median(pings) * 1000:.1f} ms, "
        f"p99 {pings[int(len(pings) * 0.99)] * 1000:.1f} ms, max {pings[-1] * 1000:.1f} ms; every thread present"
    )
    await staff.close()
    await pinger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    asyncio.run(run(args.clients, args.database))


if __name__ == "__main__":
    main()
