"""Real servers for tests: chatd under uvicorn in its own process, redis-server, and a WebSocket
client that encodes frames itself (msgspec directly, not chatd's codec) to check the wire."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

from chatd.app import build_services
from chatd.clock import SystemClock
from chatd.config import Settings
from chatd.services.context import Services
from protocol.values import Role, User

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed; the test command installs it (scripts/test)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._cmd = [
            executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self._cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _postgres_binary(name: str) -> str:
    """Debian keeps the server binaries out of PATH, in /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or max(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), default=None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed; the test command installs it (scripts/test)")
    return found


class PostgresCluster:
    """A throwaway cluster (initdb in a temp dir, a free loopback port, no fsync), one per test session.

    initdb and postgres refuse to run as root, so under root they run as an unprivileged user.
    """

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="chatd-pg-"))
        self.port = free_port()
        self._databases: set[str] = set()
        self._lock = threading.Lock()
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.workdir, user)
            self._as = ["runuser", "-u", user, "--"]

    def start(self) -> None:
        data = self.workdir / "data"
        self._run(_postgres_binary("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c max_connections=400"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            _postgres_binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.workdir / "log"), "-w", "start"
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(_postgres_binary("pg_ctl"), "-D", str(self.workdir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, name: str) -> str:
        """The URL of the database ``name``, created empty on first use."""
        with self._lock:  # processes started together from threads share a data dir
            if name not in self._databases:
                self._run(_postgres_binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
                self._databases.add(name)
        return self.url(name)

    def sql(self, statement: str) -> None:
        """Run one statement as the superuser, in the maintenance database."""
        psql = _postgres_binary("psql")
        self._run(psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", statement)

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, cwd=self.workdir, stdout=subprocess.DEVNULL)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# Which database the tests run on: CHATD_TEST_DATABASE=postgresql points every chatd and seeder at
# the session's PostgreSQL cluster; anything else (the default) at a SQLite file in the data dir.
ON_POSTGRESQL = os.environ.get("CHATD_TEST_DATABASE", "sqlite") == "postgresql"
_cluster: PostgresCluster | None = None


def postgres_cluster() -> PostgresCluster:
    global _cluster
    if _cluster is None:
        _cluster = PostgresCluster()
        _cluster.start()
    return _cluster


def stop_postgres_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


def database_env(data_dir: Path) -> dict[str, str]:
    """The settings that give a data dir its own database: on PostgreSQL, a fresh database of the
    session's cluster (the same for every process and seeder sharing the data dir)."""
    if not ON_POSTGRESQL:
        return {}
    name = "t_" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:20]
    return {"CHATD_DATABASE_URL": postgres_cluster().database(name)}


def chatd_env(data_dir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``chatd`` command on this data dir (inherits this process's)."""
    return {**os.environ, "CHATD_DATA_DIR": str(data_dir), **database_env(data_dir), **(env or {})}


@dataclass
class ChatdProcess:
    """``chatd serve`` in a child process, as an operator would run it."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    # Seconds it may take to listen: a loaded two-core machine needs more than 20.
    start_timeout: float = 60.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def full_env(self) -> dict[str, str]:
        return chatd_env(self.data_dir, self.env)

    def start(self) -> None:
        self.log_path = self.data_dir / f"chatd-{self.port}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chatd", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.full_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            wait_for_port(self.port, self.start_timeout, process=self.process)
        except (RuntimeError, TimeoutError) as exc:
            # Not left running behind a failed test (holding its database, its port, a core).
            self.stop()
            raise type(exc)(f"{exc}; its log ends:\n{self.log()[-3000:]}") from None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    async def metric(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """One sample of the server's /metrics, by its sorted labels."""
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            text = (await client.get("/metrics")).text
        return {
            tuple(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        }


class Firm:
    """Seeds a firm with users and tokens through the same directory service the CLI uses."""

    def __init__(self, services: Services, firm_id: int) -> None:
        self.services = services
        self.id = firm_id
        self._n = itertools.count(1)

    async def user(self, role: Role, *, client_account_id: int | None = None, password: str | None = None) -> User:
        n = next(self._n)
        return await self.services.directory.create_user(
            firm_id=self.id,
            email=f"{role.value}{n}-firm{self.id}@example.test",
            name=f"{role.value.title()} {n}",
            role=role,
            password=password,
            client_account_id=client_account_id,
        )

    async def token(self, user: User) -> str:
        return (await self.services.directory.create_token(user.id))[1]


@contextlib.asynccontextmanager
async def seeder(data_dir: Path, env: dict[str, str]) -> AsyncIterator[Services]:
    settings = Settings.from_env({"CHATD_DATA_DIR": str(data_dir), **database_env(data_dir), **env})
    services = build_services(settings, SystemClock())
    # Started so that what the seeder revokes reaches the servers' sessions (through Redis if set).
    await services.broker.start(services.hub)
    try:
        yield services
    finally:
        await services.broker.stop()
        await services.hub.stop()  # its gap filler reads events its broker brought in
        await services.db.dispose()


async def new_firm(services: Services, name: str = "Firm") -> Firm:
    return Firm(services, await services.directory.create_firm(name))


JSON = "chatd.v1.json"
MSGPACK = "chatd.v1.msgpack"


class WsClient:
    """A protocol v1 client for tests: requests by id, events buffered in arrival order."""

    def __init__(self, conn: ClientConnection, subprotocol: str) -> None:
        self.conn = conn
        self.subprotocol = subprotocol
        self.hello: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._new_frame = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.closed: asyncio.Event = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        subprotocol: str = JSON,
        headers: dict[str, str] | None = None,
        hello_timeout: float = 5.0,
        **kwargs: Any,
    ) -> WsClient:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        conn = await websockets.connect(url, subprotocols=[subprotocol], additional_headers=all_headers, **kwargs)  # type: ignore[list-item]
        client = cls(conn, subprotocol)
        client._reader = asyncio.create_task(client._read())
        client.hello = await client.next_frame(lambda f: f.get("op") == "hello", hello_timeout)
        return client

    def encode(self, frame: dict[str, Any]) -> str | bytes:
        if self.subprotocol == MSGPACK:
            return msgspec.msgpack.encode(frame)
        return msgspec.json.encode(frame).decode()

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                if self.subprotocol == MSGPACK:
                    assert isinstance(raw, bytes), "text frame on the msgpack subprotocol"
                    frame = msgspec.msgpack.decode(raw)
                else:
                    assert isinstance(raw, str), "binary frame on the JSON subprotocol"
                    frame = msgspec.json.decode(raw)
                self.frames.append(frame)
                if frame.get("op") == "event":
                    self.events.append(frame)
                self._new_frame.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._new_frame.set()

    async def next_frame(self, match: Any, timeout: float = 5.0, start: int = 0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        seen = start
        while True:
            for frame in self.frames[seen:]:
                if match(frame):
                    return frame
            seen = len(self.frames)
            if self.closed.is_set():
                raise ConnectionError(f"closed while waiting ({self.conn.close_code} {self.conn.close_reason})")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame within {timeout}s; got {self.frames[-5:]}")
            self._new_frame.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_frame.wait(), remaining)

    async def send_raw(self, payload: str | bytes) -> None:
        await self.conn.send(payload)

    async def call(self, op: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Send a request and return its answer frame (``ok`` or ``error``)."""
        request_id = next(self._ids)
        await self.conn.send(self.encode({"op": op, "id": request_id, **fields}))
        return await self.next_frame(lambda f: f.get("op") in ("ok", "error") and f.get("id") == request_id, timeout)

    async def ok(self, op: str, **fields: Any) -> dict[str, Any]:
        """The request's result; like a well-behaved client, waits out ``rate_limited`` and retries."""
        answer = await self.call(op, **fields)
        while answer.get("code") == "rate_limited":
            await asyncio.sleep(answer["retry_after"])
            answer = await self.call(op, **fields)
        assert answer["op"] == "ok", answer
        result: dict[str, Any] = answer["result"]
        return result

    async def event(self, type_: str, timeout: float = 5.0, **data_match: Any) -> dict[str, Any]:
        def match(frame: dict[str, Any]) -> bool:
            if frame.get("op") != "event" or frame.get("type") != type_:
                return False
            return all(_dig(frame["data"], k) == v for k, v in data_match.items())

        return await self.next_frame(match, timeout)

    async def quiet(self, seconds: float, type_: str | None = None) -> list[dict[str, Any]]:
        """The events (of a type) that arrive within ``seconds``; tests assert it is empty."""
        start = len(self.events)
        await asyncio.sleep(seconds)
        return [e for e in self.events[start:] if type_ is None or e["type"] == type_]

    async def close(self) -> None:
        await self.conn.close()
        if self._reader is not None:
            await self._reader


def _dig(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def http(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=10)


def api(server: ChatdProcess, token: str) -> httpx.AsyncClient:
    """An HTTP client of the server's API, signed in with ``token``."""
    return httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def deliveries(server: ChatdProcess, token: str, state: str, kind: str = "") -> list[dict[str, Any]]:
    """``GET /api/deliveries`` in that state, of the kinds starting with ``kind`` (all by default)."""
    async with api(server, token) as client:
        answer = await client.get("/api/deliveries", params={"state": state})
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["deliveries"]
        return [d for d in found if d["kind"].startswith(kind)]
