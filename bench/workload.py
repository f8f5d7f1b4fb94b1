"""What every workload shares: the servers under test, seeding through chatd's own services, a
crowd of raw WebSocket connections, and the statistics."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import machine
from bench.rawws import OnFrame, RawWs
from tests.support import ROOT, ChatdProcess, RedisServer, free_port, postgres_cluster, wait_for_port

HEARTBEAT_S = 20
JSON = "chatd.v1.json"
# Enough for any benchmark client: per-user request limits are not what is measured.
CHATD_ENV = {"CHATD_REQUESTS_PER_SECOND": "1000000", "CHATD_HEARTBEAT_S": str(HEARTBEAT_S)}

encode = msgspec.json.Encoder().encode
# Request id 0 is the benchmarks' own ping, never a measured request.
PING = b'{"op":"ping","id":0}'
PING_ANSWER = b'{"op":"ok","id":0,'
decode = msgspec.json.Decoder(dict[str, Any]).decode


@dataclass
class Target:
    """Servers of one kind under test: their WebSocket ports and process ids."""

    name: str
    ports: list[int]
    pids: list[int]
    subprotocol: str | None = JSON
    chatd: list[ChatdProcess] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"


@contextlib.contextmanager
def chatd_servers(data_dir: Path, *, processes: int = 1, database: str = "sqlite") -> Iterator[Target]:
    """chatd serving one data dir: one process on SQLite, or several on PostgreSQL + Redis, each
    chatd process on its own core (the first on the server core) when there are enough."""
    env = dict(CHATD_ENV)
    with contextlib.ExitStack() as stack:
        if database == "postgresql":
            env["CHATD_DATABASE_URL"] = postgres_cluster().database("bench_" + uuid.uuid4().hex[:8])
        if processes > 1:
            redis = RedisServer(data_dir)
            redis.start()
            stack.callback(redis.stop)
            env["CHATD_REDIS_URL"] = redis.url
        servers = []
        cores = machine.cores()
        for index in range(processes):
            server = ChatdProcess(data_dir, env=env)
            with machine.pinned(cores[index % len(cores)]):
                try:
                    server.start()
                except TimeoutError:
                    # A heavily loaded machine: give the process longer to come up.
                    assert server.process is not None
                    wait_for_port(server.port, 120, server.process)
            stack.callback(server.stop)
            servers.append(server)
        yield Target(
            "chatd", [s.port for s in servers], [s.process.pid for s in servers if s.process is not None], chatd=servers
        )


@contextlib.contextmanager
def reference_server() -> Iterator[Target]:
    port = free_port()
    with machine.pinned(machine.server_core()):
        process = subprocess.Popen([sys.executable, "-m", "bench.reference", "--port", str(port)], cwd=ROOT)
    try:
        wait_for_port(port, process=process)
        yield Target("websockets", [port], [process.pid], subprotocol=None)
    finally:
        process.kill()
        process.wait(10)


async def connect_many(
    target: Target, tokens: list[str | None], on_frames: list[OnFrame | None], *, batch: int = 250
) -> list[RawWs]:
    """Open one connection per token (spread over the target's processes), ``batch`` at a time,
    and wait for each one's first frame (chatd's hello: the session is registered)."""
    connections: list[RawWs] = []
    for start in range(0, len(tokens), batch):
        chunk = range(start, min(start + batch, len(tokens)))
        connections += await asyncio.gather(
            *(
                RawWs.connect(
                    "127.0.0.1",
                    target.ports[i % len(target.ports)],
                    "/ws",
                    token=tokens[i],
                    subprotocol=target.subprotocol,
                    on_frame=on_frames[i],
                )
                for i in chunk
            )
        )
    await until(lambda: all(c.frames for c in connections), 60, "every connection greeted")
    # chatd holds live events until a client's first frame (its chance to resume first): send one.
    for connection in connections:
        connection.send_text(PING)
    return connections


async def quiet(target: Target, *, idle_cpu: float = 0.1, window_s: float = 1.0, limit_s: float = 60.0) -> float:
    """Wait until the servers are idle (under ``idle_cpu`` cores over ``window_s``), at most
    ``limit_s``: what a run's last, overloaded step left (a backlog of notifications to fan out)
    is then not measured in the next run's first steps. The seconds waited."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < limit_s:
        with machine.measured(target.pids) as window:
            await asyncio.sleep(window_s)
        if window.server_cpu < idle_cpu:
            break
    return loop.time() - started


async def until(check: Any, seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not {what} within {seconds:g} s")
        await asyncio.sleep(0.02)


async def close_all(connections: list[RawWs]) -> None:
    await asyncio.gather(*(c.close() for c in connections))


def send_frame(request_id: int, thread_id: int, body: str) -> bytes:
    return encode(
        {"op": "send", "id": request_id, "thread_id": thread_id, "body": body, "client_msg_id": uuid.uuid4().hex}
    )


async def create_thread(
    http: httpx.AsyncClient, token: str, *, client_account_id: int | None, participants: tuple[int, ...] = ()
) -> int:
    answer = await http.post(
        "/api/threads",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "subject": "bench",
            "body": "start",
            "client_msg_id": uuid.uuid4().hex,
            "client_account_id": client_account_id,
            "participants": list(participants),
        },
    )
    answer.raise_for_status()
    thread_id: int = answer.json()["thread"]["id"]
    return thread_id


async def post_message(http: httpx.AsyncClient, token: str, thread_id: int, body: str) -> None:
    answer = await http.post(
        f"/api/threads/{thread_id}/messages",
        headers={"Authorization": f"Bearer {token}"},
        json={"body": body, "client_msg_id": uuid.uuid4().hex},
    )
    answer.raise_for_status()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def say(text: str) -> None:
    print(text, flush=True)
