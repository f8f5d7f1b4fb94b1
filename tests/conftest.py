from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from chatd.services.context import Services
from protocol.values import Role, User
from tests.mail import MailServer
from tests.receiver import Receiver
from tests.support import JSON, ChatdProcess, Firm, RedisServer, WsClient, new_firm, seeder, stop_postgres_cluster
from tests.timing import TestClock

# Hypothesis keeps its caches in a folder of this session's own, by absolute path: a relative
# .hypothesis (even one per run) lost its charmap file mid-run in CI.
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = tempfile.mkdtemp(prefix="chatd-hypothesis-")

PUBLIC_URL = "https://chat.cabinet.test"
MAIL_FROM = "Cabinet <noreply@cabinet.test>"


@pytest.fixture(scope="session", autouse=True)
def _postgres_cluster() -> Iterator[None]:
    """With CHATD_TEST_DATABASE=postgresql, tests start one cluster on first use: stop it at the end."""
    yield
    stop_postgres_cluster()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatdProcess]:
    """One chatd for the test module, on the embedded default (SQLite file, in-process broker)."""
    yield from _running(ChatdProcess(tmp_path_factory.mktemp("chatd")))


def _running(process: ChatdProcess) -> Iterator[ChatdProcess]:
    process.start()
    yield process
    process.stop()
    # Bad input must be answered, never crash a handler: the log holds no error or traceback.
    problems = [line for line in process.log().splitlines() if "ERROR" in line or "Traceback" in line]
    assert problems == [], problems


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> TestClock:
    """The injectable clock of the module's chatd (``chatd_server``): tests move it forward."""
    return TestClock(tmp_path_factory.mktemp("clock") / "offset")


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) whose received emails the tests read."""
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sms() -> Iterator[Receiver]:
    """A local HTTP server standing in for the SMS provider, recording its requests."""
    provider = Receiver()
    provider.start()
    yield provider
    provider.stop()


def chatd_server(*, with_mail: bool = False, with_sms: bool = False, env: dict[str, str] | None = None) -> Any:
    """A module's ``server`` fixture (``server = chatd_server(...)``): a chatd on the module's
    ``clock``, with links to ``PUBLIC_URL``, sending email to the module's ``mail`` server and SMS
    to its ``sms`` provider when asked, and ``env`` on top. Its log must hold no error."""

    @pytest.fixture(scope="module", name="server")
    def timed_server(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, clock: TestClock
    ) -> Iterator[ChatdProcess]:
        full = {**clock.env, "CHATD_PUBLIC_URL": PUBLIC_URL}
        if with_mail:
            full |= {"CHATD_SMTP_URL": request.getfixturevalue("mail").url, "CHATD_MAIL_FROM": MAIL_FROM}
        if with_sms:
            full |= {"CHATD_SMS_URL": request.getfixturevalue("sms").url, "CHATD_SMS_FROM": "Cabinet"}
        yield from _running(ChatdProcess(tmp_path_factory.mktemp("chatd"), env={**full, **(env or {})}))

    return timed_server


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path_factory.mktemp("redis"))
    redis.start()
    yield redis
    redis.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def services(server: ChatdProcess) -> AsyncIterator[Services]:
    async with seeder(server.data_dir, server.env) as found:
        yield found


@dataclass
class Cast:
    """A firm with two staff, a client, a second client of another account, and their tokens."""

    firm: Firm
    staff: User
    staff2: User
    client: User
    other_client: User
    tokens: dict[int, str]

    def token(self, user: User) -> str:
        return self.tokens[user.id]


async def make_cast(services: Services) -> Cast:
    firm = await new_firm(services)
    staff = await firm.user(Role.STAFF)
    staff2 = await firm.user(Role.STAFF)
    client = await firm.user(Role.CLIENT)
    other = await firm.user(Role.CLIENT)
    tokens = {u.id: await firm.token(u) for u in (staff, staff2, client, other)}
    return Cast(firm, staff, staff2, client, other, tokens)


@pytest_asyncio.fixture(loop_scope="session")
async def cast(services: Services) -> Cast:
    return await make_cast(services)


Connect = Callable[..., Coroutine[Any, Any, WsClient]]


@pytest_asyncio.fixture(loop_scope="session")
async def connect(server: ChatdProcess) -> AsyncIterator[Connect]:
    """Open WebSocket clients to the module's server; all are closed after the test."""
    opened: list[WsClient] = []

    async def open_client(token: str, subprotocol: str = JSON, url: str | None = None, **kwargs: Any) -> WsClient:
        client = await WsClient.connect(url or server.ws_url, token, subprotocol=subprotocol, **kwargs)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()


@contextlib.asynccontextmanager
async def own_chatd(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[tuple[ChatdProcess, Cast]]:
    """A chatd of the test's own, with its own settings, and a cast seeded in it."""
    process = ChatdProcess(tmp_path, env=env)
    process.start()
    try:
        # Open for the whole test: the cast's firm seeds more through these services (a connection
        # opened on a disposed pool is never closed, and its garbage collection failed a later test).
        async with seeder(tmp_path, env) as services:
            yield process, await make_cast(services)
    finally:
        process.stop()


def new_id() -> str:
    return uuid.uuid4().hex


async def open_thread(staff: WsClient, client: User, body: str = "Hello, your file is ready.") -> dict[str, Any]:
    """A staff member opens a thread with a client's account; returns the ``thread.create`` result."""
    return await staff.ok(
        "thread.create",
        subject="Your 2026 tax return",
        body=body,
        client_msg_id=new_id(),
        client_account_id=client.client_account_id,
    )
