"""The fault suite's setup and its audit: two chatd processes on PostgreSQL and Redis, each reached
through a proxy the test can blackhole or shut, clients spread over both, and the checks that
nothing was lost, doubled or reordered (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from protocol.values import Role, User
from tests.conftest import new_id
from tests.proxy import CuttableProxy
from tests.support import ChatdProcess, RedisServer, WsClient, postgres_cluster
from tests.timing import TestClock


@dataclass
class Cluster:
    """chatd processes whose PostgreSQL and Redis are each behind a proxy (``db_link``, ``redis_link``)."""

    data_dir: Path
    redis: RedisServer
    redis_link: CuttableProxy
    db_link: CuttableProxy
    database: str
    clock: TestClock
    env: dict[str, str]
    processes: list[ChatdProcess] = field(default_factory=list)

    @property
    def direct_db_url(self) -> str:
        """The database without the proxy: for seeding and auditing while the link is broken."""
        return postgres_cluster().url(self.database)

    @property
    def seed_env(self) -> dict[str, str]:
        return {**self.env, "CHATD_DATABASE_URL": self.direct_db_url}

    async def start_process(self) -> ChatdProcess:
        # Started from a thread: its migrations go through db_link, which runs on this loop.
        process = ChatdProcess(self.data_dir, env=self.env, start_timeout=90)
        await asyncio.to_thread(process.start)
        self.processes.append(process)
        return process


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, env: dict[str, str] | None = None, processes: int = 2, *, linked: bool = True
) -> AsyncIterator[Cluster]:
    """Always PostgreSQL (the session's cluster), whatever CHATD_TEST_DATABASE says: the faults
    are those of a deployment of several processes. ``linked=False`` connects the processes to
    PostgreSQL and Redis directly, for tests that break neither and move much traffic."""
    pg = postgres_cluster()
    database = "f_" + hashlib.sha256(str(tmp_path.resolve()).encode()).hexdigest()[:20]
    pg.database(database)
    redis = RedisServer(tmp_path)
    redis.start()
    redis_link, db_link = CuttableProxy(redis.port), CuttableProxy(pg.port)
    await redis_link.start()
    await db_link.start()
    clock = TestClock(tmp_path / "clock")
    db_port, redis_port = (db_link.port, redis_link.port) if linked else (pg.port, redis.port)
    full_env = {
        "CHATD_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{db_port}/{database}",
        "CHATD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        # A silent Redis is given up after 0.5 s instead of 5 s: the same path, ten times sooner.
        "CHATD_REDIS_HEALTH_MS": "500",
        "CHATD_REQUESTS_PER_SECOND": "1000",
        **clock.env,
        **(env or {}),
    }
    found = Cluster(tmp_path, redis, redis_link, db_link, database, clock, full_env)
    try:
        for _ in range(processes):
            await found.start_process()
        yield found
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in found.processes))
        await redis_link.stop()
        await db_link.stop()
        redis.stop()


def owner_of(processes: Iterable[ChatdProcess], local_port: int, remote_port: int) -> ChatdProcess:
    """The process holding the TCP connection from ``local_port`` to ``remote_port`` (read from /proc;
    Linux reuses a local port for connections to different peers, so both ends are needed)."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            ports = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
            if ports == (local_port, remote_port):
                sockets.add(f"socket:[{fields[9]}]")
    for process in processes:
        assert process.process is not None
        for fd in Path(f"/proc/{process.process.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in sockets:
                    return process
    raise LookupError(f"no process holds port {local_port}")


@dataclass(eq=False)
class Observer:
    """One user's view over its successive connections (reconnected and resumed after a fault).

    Its connections send no keepalive pings: on a loaded machine a pong stuck behind thousands of
    frames would make the test client, not chatd, drop the connection."""

    user: User
    token: str
    conns: list[WsClient]
    # The hello's event id of the first connection: every later message must reach this user once.
    start: int

    @classmethod
    async def connect(cls, url: str, user: User, token: str) -> Observer:
        conn = await WsClient.connect(url, token, ping_interval=None, hello_timeout=60)
        await conn.ok("ping")
        return cls(user, token, [conn], conn.hello["event_id"])

    @property
    def conn(self) -> WsClient:
        return self.conns[-1]

    def events(self) -> list[dict[str, Any]]:
        return [e for c in self.conns for e in c.events]

    def last_event_id(self) -> int:
        return max((e["event_id"] for e in self.events() if e.get("event_id") is not None), default=self.start)

    async def reconnect(self, url: str, **kwargs: Any) -> int:
        """Connect again and resume after the last event received; the number replayed.

        A burst of live events during a long replay (the notifications job turning thousands of
        missed messages into notifications, 500 at a time) can overflow the session's queue: the
        server closes with 4001 and the client resumes again from where it got, as the SDK does."""
        for _ in range(3):
            conn = await WsClient.connect(url, self.token, **{"ping_interval": None, "hello_timeout": 60, **kwargs})
            self.conns.append(conn)
            try:
                replayed: int = (await conn.ok("resume", after_event_id=self.last_event_id()))["replayed"]
            except ConnectionError:
                if conn.conn.close_code != 4001:
                    raise
                continue
            return replayed
        raise ConnectionError("closed with 4001 on three resumes in a row")

    def received(self) -> dict[int, list[int]]:
        """Message ids per thread, in arrival order."""
        by_thread: defaultdict[int, list[int]] = defaultdict(list)
        for event in self.events():
            if event["type"] == "message.created":
                message = event["data"]["message"]
                by_thread[message["thread_id"]].append(message["id"])
        return dict(by_thread)

    async def close(self) -> None:
        for conn in self.conns:
            if not conn.closed.is_set():
                await conn.close()


@dataclass
class AuditReport:
    messages: int
    due: int
    done: int
    failed: int


class Store:
    """Reads the database directly (not through chatd, nor through the link a test breaks)."""

    def __init__(self, url: str) -> None:
        self._engine = create_async_engine(url)

    async def close(self) -> None:
        await self._engine.dispose()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self._engine.connect() as conn:
            return list(await conn.execute(text(sql), params))

    async def visible(self, user: User, after_event_id: int) -> dict[int, list[int]]:
        """Per thread, the ids of the messages ``user`` may see created after ``after_event_id``, in
        delivery order. The fault tests send plain messages only: staff see every thread of their
        firm, a client the threads of its account."""
        rows = await self.rows(
            "SELECT m.thread_id, m.id, m.kind, t.client_account_id FROM events e"
            " JOIN messages m ON m.id = e.message_id JOIN threads t ON t.id = m.thread_id"
            " WHERE e.type = 'message.created' AND e.firm_id = :firm AND e.id > :after ORDER BY e.id",
            firm=user.firm_id,
            after=after_event_id,
        )
        seen: defaultdict[int, list[int]] = defaultdict(list)
        for thread_id, message_id, kind, account_id in rows:
            if user.role is Role.CLIENT and (account_id != user.client_account_id or kind != "message"):
                continue
            seen[thread_id].append(message_id)
        return dict(seen)


async def wait_delivered(store: Store, observers: Iterable[Observer], timeout: float = 15.0) -> None:
    """Wait until every observer has every message it may see, then check it has exactly those, each
    once, in order per thread."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for observer in observers:
        expected = await store.visible(observer.user, observer.start)
        while not _covers(observer.received(), expected) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert observer.received() == expected, f"user {observer.user.id} ({observer.user.role})"


def _covers(received: dict[int, list[int]], expected: dict[int, list[int]]) -> bool:
    return all(set(ids) <= set(received.get(thread_id, ())) for thread_id, ids in expected.items())


async def audit(store: Store, now: datetime, sent: Iterable[Sent] = ()) -> AuditReport:
    """The database after a fault: per-thread order gapless (each message has one ``message.created``
    event, in message order), idempotency keys unique (each acknowledged send stored once), and due
    work settled: every row due by ``now`` is done or failed with its reason, none skipped."""
    created = await store.rows(
        "SELECT m.thread_id, m.id, e.id FROM messages m LEFT JOIN events e"
        " ON e.message_id = m.id AND e.type = 'message.created' ORDER BY m.thread_id, m.id"
    )
    by_thread: defaultdict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for thread_id, message_id, event_id in created:
        by_thread[thread_id].append((message_id, event_id))
    for thread_id, pairs in by_thread.items():
        message_ids = [m for m, _ in pairs]
        assert len(message_ids) == len(set(message_ids)), f"thread {thread_id}: a message has two created events"
        assert all(e is not None for _, e in pairs), f"thread {thread_id}: a message without its event"
        by_event = [m for m, _ in sorted(pairs, key=lambda pair: pair[1] or 0)]
        assert by_event == message_ids, f"thread {thread_id}: events out of message order"

    doubled = await store.rows(
        "SELECT author_id, client_msg_id FROM messages WHERE client_msg_id IS NOT NULL"
        " GROUP BY author_id, client_msg_id HAVING COUNT(*) > 1"
    )
    assert doubled == [], doubled
    keys = Counter((a, k) for a, k in await store.rows("SELECT author_id, client_msg_id FROM messages"))
    missing = [s for s in sent if keys[(s.author_id, s.client_msg_id)] != 1]
    assert missing == [], f"acknowledged sends not stored once: {missing}"

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10  # work that came due at the end is done within a few ticks
    while True:
        due = await store.rows(
            "SELECT id, kind, state, last_error FROM due_work"
            " WHERE state <> 'cancelled' AND (state <> 'pending' OR due_at <= :now)",
            now=now.astimezone(UTC).replace(tzinfo=None),  # stored naive, in UTC (storage.models.UTCDateTime)
        )
        if loop.time() > deadline or all(row.state != "pending" for row in due):
            break
        await asyncio.sleep(0.1)
    pending = [row for row in due if row.state == "pending"]
    assert pending == [], f"due work left undone: {pending}"
    unexplained = [row for row in due if row.state == "failed" and not row.last_error]
    assert unexplained == [], f"failed without a reason: {unexplained}"
    done = sum(1 for row in due if row.state == "done")
    return AuditReport(messages=len(created), due=len(due), done=done, failed=len(due) - done)


@dataclass(frozen=True)
class Sent:
    author_id: int
    client_msg_id: str
    message_id: int


async def send_messages(sender: WsClient, thread_id: int, tag: str, count: int) -> list[Sent]:
    """Send ``count`` messages, each acknowledged before the next."""
    author = sender.hello["user"]["id"]
    sent = []
    for n in range(count):
        key = new_id()
        result = await sender.ok("send", thread_id=thread_id, body=f"{tag} {n}", client_msg_id=key)
        sent.append(Sent(author, key, result["message"]["id"]))
    return sent


async def flood(
    base_urls: list[str], user: User, token: str, thread_ids: list[int], count: int, body: str, concurrency: int = 16
) -> list[Sent]:
    """Send ``count`` messages over HTTP, ``concurrency`` at a time spread over the processes and
    threads (an HTTP sender receives no events, so the test's own clients stay light)."""
    keys = [new_id() for _ in range(count)]
    sent: list[Sent] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            thread_id = thread_ids[n % len(thread_ids)]
            answer = await http.post(
                f"/api/threads/{thread_id}/messages", json={"body": f"{n} {body}", "client_msg_id": keys[n]}
            )
            assert answer.status_code == 201, answer.text
            sent.append(Sent(user.id, keys[n], answer.json()["message"]["id"]))

    headers = {"Authorization": f"Bearer {token}"}
    clients = [httpx.AsyncClient(base_url=url, headers=headers, timeout=60) for url in base_urls]
    try:
        await asyncio.gather(*(worker(clients[w % len(clients)]) for w in range(concurrency)))
    finally:
        for client in clients:
            await client.aclose()
    return sent
