"""Persisted sends under concurrency: N clients, each in its own thread with a staff member
watching every thread, send M messages each as fast as answers come back. Reports sends/s and
ack latency, and checks that every watcher got every message once, in id order.

    .venv/bin/python -m bench.send_load --threads 50 --messages 40 [--processes 2] [--database postgresql]

It starts its own chatd (and redis-server with --processes 2, and a throwaway PostgreSQL cluster
with --database postgresql) on free loopback ports.
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

from protocol.values import Role
from tests.support import ChatdProcess, RedisServer, WsClient, new_firm, postgres_cluster, seeder, stop_postgres_cluster


async def run(threads: int, messages: int, processes: int, database: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="chatd-bench-"))
    env = {"CHATD_REQUESTS_PER_SECOND": "100000"}
    with contextlib.ExitStack() as stack:
        if database == "postgresql":
            env["CHATD_DATABASE_URL"] = postgres_cluster().database("bench")
            stack.callback(stop_postgres_cluster)
        if processes > 1:
            redis = RedisServer(data_dir)
            redis.start()
            stack.callback(redis.stop)
            env["CHATD_REDIS_URL"] = redis.url
        servers = [ChatdProcess(data_dir, env=env) for _ in range(processes)]
        for server in servers:
            server.start()
            stack.callback(server.stop)
        await _load(servers, env, threads, messages, database)


async def _load(servers: list[ChatdProcess], env: dict[str, str], threads: int, messages: int, database: str) -> None:
    async with seeder(servers[0].data_dir, env) as services:
        firm = await new_firm(services)
        staff_token = await firm.token(await firm.user(Role.STAFF))
        clients = [await firm.user(Role.CLIENT) for _ in range(threads)]
        tokens = [await firm.token(c) for c in clients]
    staff = await WsClient.connect(servers[0].ws_url, staff_token)
    thread_ids = []
    for client in clients:
        opened = await staff.ok(
            "thread.create",
            subject="bench",
            body="start",
            client_msg_id=uuid.uuid4().hex,
            client_account_id=client.client_account_id,
        )
        thread_ids.append(opened["thread"]["id"])
    senders = [await WsClient.connect(servers[i % len(servers)].ws_url, t) for i, t in enumerate(tokens)]
    watchers = [await WsClient.connect(s.ws_url, staff_token) for s in servers]
    for client in (*senders, *watchers):
        await client.ok("ping")

    sent = 0
    latencies: list[float] = []

    async def send_all(index: int, client: WsClient) -> None:
        nonlocal sent
        for n in range(messages):
            started = time.perf_counter()
            await client.ok("send", thread_id=thread_ids[index], body=f"{index}-{n}", client_msg_id=uuid.uuid4().hex)
            latencies.append(time.perf_counter() - started)
            sent += 1

    async def progress() -> None:
        while True:
            await asyncio.sleep(1)
            print(f"  {sent}/{threads * messages} sent", flush=True)

    reporter = asyncio.create_task(progress())
    began = time.perf_counter()
    await asyncio.gather(*(send_all(i, c) for i, c in enumerate(senders)))
    elapsed = time.perf_counter() - began
    reporter.cancel()

    total = threads * messages
    await asyncio.sleep(1)
    for watcher in watchers:
        created = [e for e in watcher.events if e["type"] == "message.created"]
        assert len(created) == total, f"a watcher got {len(created)} of {total} messages"
        event_ids = [e["event_id"] for e in created]
        assert event_ids == sorted(event_ids), "a watcher got events out of event id order"
        # Message ids are ordered within a thread (PostgreSQL commits other threads' ids in parallel).
        for thread_id in thread_ids:
            ids = [e["data"]["message"]["id"] for e in created if e["data"]["message"]["thread_id"] == thread_id]
            assert ids == sorted(ids), "a watcher got a thread's messages out of id order"
    latencies.sort()
    print(
        f"{len(servers)} process(es) on {database}, {threads} concurrent senders: "
        f"{total} persisted sends in {elapsed:.2f} s "
        f"= {total / elapsed:.0f}/s; ack p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms; every watcher got all {total}, once, in order"
    )
    for client in (staff, *senders, *watchers):
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--processes", type=int, default=1, choices=[1, 2])
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    asyncio.run(run(args.threads, args.messages, args.processes, args.database))


if __name__ == "__main__":
    main()
