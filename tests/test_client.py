"""The Python SDK against a running chatd: requests, typed events, reconnects that lose and repeat nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from chatd.client import AuthError, Client, MessageEvent, RequestError, RequestTimeout
from chatd.client.connection import reconnect_delay
from chatd.services.context import Services
from protocol.values import Role, User
from storage.directory import Account
from tests.conftest import Cast, Connect, new_id, own_chatd
from tests.proxy import CuttableProxy
from tests.support import JSON, MSGPACK, ROOT, ChatdProcess, WsClient


def test_importing_the_sdk_loads_none_of_the_servers_dependencies() -> None:
    code = (
        "import sys, chatd.client\n"
        "server = {'starlette', 'sqlalchemy', 'uvicorn', 'redis', 'alembic', 'aiosqlite', 'apscheduler', 'argon2',"
        " 'storage', 'scheduler'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in server or m in ('chatd.app', 'chatd.ws'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


async def _bot_in_a_thread(cast: Cast, staff: WsClient) -> tuple[User, str, int]:
    bot = await cast.firm.user(Role.BOT)
    opened = await staff.ok(
        "thread.create",
        subject="Questions",
        body="Welcome",
        client_msg_id=new_id(),
        client_account_id=cast.client.client_account_id,
        participants=[bot.id],
    )
    return bot, await cast.firm.token(bot), opened["thread"]["id"]


async def _staff_messages(client: Client, staff_id: int, count: int) -> list[str]:
    bodies: list[str] = []
    while len(bodies) < count:
        event = await client.next_event(timeout_s=10)
        if isinstance(event, MessageEvent) and event.type == "message.created" and event.message.author_id == staff_id:
            bodies.append(event.message.body)
    return bodies


@pytest_asyncio.fixture(loop_scope="session")
async def proxy(server: ChatdProcess) -> AsyncIterator[CuttableProxy]:
    found = CuttableProxy(server.port)
    await found.start()
    yield found
    await found.stop()


@pytest.mark.parametrize("subprotocol", [MSGPACK, JSON])
async def test_requests_answers_and_typed_events(
    cast: Cast, connect: Connect, server: ChatdProcess, subprotocol: str
) -> None:
    staff = await connect(cast.token(cast.staff))
    bot, token, thread_id = await _bot_in_a_thread(cast, staff)
    async with Client(server.ws_url, token, subprotocol=subprotocol) as client:
        assert client.user is not None
        assert client.user.id == bot.id
        await staff.ok("send", thread_id=thread_id, body="Is my return filed?", client_msg_id=new_id())
        assert await _staff_messages(client, cast.staff.id, 1) == ["Is my return filed?"]
        sent = await client.send(thread_id, "Yes, on Monday.")
        assert sent.client_msg_id
        messages, has_more = await client.history(thread_id)
        assert [m.body for m in messages][-1] == "Yes, on Monday."
        assert not has_more
        threads, _ = await client.threads()
        assert [t.id for t in threads] == [thread_id]
        with pytest.raises(RequestError) as refused:
            await client.history(10**9)
        assert refused.value.code == "not_found"
        assert await client.ping()


async def test_a_cut_socket_mid_conversation_loses_and_duplicates_nothing(
    cast: Cast, connect: Connect, services: Services, proxy: CuttableProxy
) -> None:
    staff = await connect(cast.token(cast.staff))
    _, token, thread_id = await _bot_in_a_thread(cast, staff)
    async with Client(proxy.ws_url, token) as client:
        for n in (1, 2, 3):
            await staff.ok("send", thread_id=thread_id, body=f"question {n}", client_msg_id=new_id())
        assert await _staff_messages(client, cast.staff.id, 3) == ["question 1", "question 2", "question 3"]
        await client.send(thread_id, "answer 1")

        # The server hears the bot, the bot no longer hears the server: the answer to its send is lost.
        proxy.deaf = True
        with pytest.raises(RequestTimeout):
            await client.request("ping", timeout_s=0.3)
        for n in (4, 5):
            await staff.ok("send", thread_id=thread_id, body=f"question {n}", client_msg_id=new_id())
        pending = asyncio.create_task(client.send(thread_id, "answer 2"))
        stored = await staff.event("message.created", message__body="answer 2")
        proxy.cut()
        resent = await asyncio.wait_for(pending, 15)
        assert resent.id == stored["data"]["message"]["id"]
        await staff.ok("send", thread_id=thread_id, body="question 6", client_msg_id=new_id())
        assert await _staff_messages(client, cast.staff.id, 3) == ["question 4", "question 5", "question 6"]
        assert client.reconnects == 1
    messages, _ = await services.conversations.history(
        await _account(services, cast.staff.id), thread_id=thread_id, before=None, after=None, limit=100
    )
    bodies = [m.body for m in messages]
    assert bodies.count("answer 1") == bodies.count("answer 2") == 1
    assert len(bodies) == 1 + 6 + 2


async def test_a_server_restart_mid_conversation_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    async with own_chatd(tmp_path, {}) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff), subprotocol=JSON)
        _, token, thread_id = await _bot_in_a_thread(cast, staff)
        async with Client(process.ws_url, token) as client:
            await staff.ok("send", thread_id=thread_id, body="before", client_msg_id=new_id())
            assert await _staff_messages(client, cast.staff.id, 1) == ["before"]
            await staff.close()
            process.stop()
            during = asyncio.create_task(client.send(thread_id, "sent while the server was down"))
            await asyncio.sleep(0.3)
            process.start()
            sent = await asyncio.wait_for(during, 15)
            staff = await WsClient.connect(process.ws_url, cast.token(cast.staff), subprotocol=JSON)
            await staff.ok("send", thread_id=thread_id, body="after", client_msg_id=new_id())
            assert await _staff_messages(client, cast.staff.id, 1) == ["after"]
            history = await staff.ok("history", thread_id=thread_id)
            bodies = [m["body"] for m in history["messages"]]
            assert bodies == ["Welcome", "before", "sent while the server was down", "after"]
            assert history["messages"][2]["id"] == sent.id
            await staff.close()


async def test_a_slow_consumer_is_paused_and_resumed_without_losing_events(
    cast: Cast, connect: Connect, server: ChatdProcess
) -> None:
    staff = await connect(cast.token(cast.staff))
    _, token, thread_id = await _bot_in_a_thread(cast, staff)
    async with Client(server.ws_url, token, max_queued_events=4) as client:
        for n in range(12):
            await staff.ok("send", thread_id=thread_id, body=f"m{n}", client_msg_id=new_id())
        await staff.ok("ping")
        await asyncio.sleep(0.3)  # the bot reads nothing meanwhile: its queue fills up
        assert await _staff_messages(client, cast.staff.id, 12) == [f"m{n}" for n in range(12)]
        assert client.reconnects >= 1
        await staff.ok("send", thread_id=thread_id, body="live again", client_msg_id=new_id())
        assert await _staff_messages(client, cast.staff.id, 1) == ["live again"]


async def test_refused_credentials_raise_auth_error(cast: Cast, server: ChatdProcess, services: Services) -> None:
    bot = await cast.firm.user(Role.BOT)
    token_id, token = await services.directory.create_token(bot.id)
    await services.directory.revoke_token(token_id)
    with pytest.raises(AuthError):
        async with Client(server.ws_url, token):
            pass


async def _account(services: Services, user_id: int) -> Account:
    found = await services.directory.account(user_id)
    assert found is not None
    return found


def test_reconnect_delays_spread_a_crowd_over_the_whole_window() -> None:
    """Full jitter: the clients of a process that went away come back anywhere within the first
    0.5 s, not together, and each failed attempt doubles the window up to the cap."""
    first = [reconnect_delay(0, 5.0) for _ in range(2000)]
    assert 0 <= min(first) < 0.05
    assert 0.45 < max(first) <= 0.5
    # Roughly as many in each tenth of the window: no wave.
    per_tenth = [sum(n / 10 * 0.5 <= d < (n + 1) / 10 * 0.5 for d in first) for n in range(10)]
    assert min(per_tenth) > 100, per_tenth
    later = [reconnect_delay(3, 5.0) for _ in range(2000)]
    assert min(later) < 0.4
    assert 3.6 < max(later) <= 4.0
    capped = [reconnect_delay(20, 5.0) for _ in range(2000)]
    assert 4.5 < max(capped) <= 5.0


async def test_a_handshake_is_given_up_after_open_timeout_and_tried_again(
    cast: Cast, connect: Connect, proxy: CuttableProxy
) -> None:
    """``open_timeout`` bounds the handshake and the hello together (websockets' own 10 s is off:
    a crowd reconnecting to a loaded process gave up handshakes that were about to succeed and
    queued them again, docs/reliability.md); a reconnect that times out is retried."""
    staff = await connect(cast.token(cast.staff))
    _, token, thread_id = await _bot_in_a_thread(cast, staff)
    proxy.blackhole()
    try:
        with pytest.raises(TimeoutError):
            await Client(proxy.ws_url, token, open_timeout=0.5).start()
    finally:
        proxy.restore()
    async with Client(proxy.ws_url, token, open_timeout=0.5) as client:
        proxy.blackhole()  # the socket in place stays open but silent; new ones hang
        try:
            proxy.cut()
            await asyncio.sleep(2)  # a few attempts, each given up after 0.5 s
            assert not client.connected
        finally:
            proxy.restore()
        await staff.ok("send", thread_id=thread_id, body="after the silence", client_msg_id=new_id())
        assert await _staff_messages(client, cast.staff.id, 1) == ["after the silence"]
        assert client.reconnects == 1


async def test_a_resume_overtaken_by_live_events_loses_and_repeats_nothing(
    cast: Cast, connect: Connect, proxy: CuttableProxy
) -> None:
    """A resume that reaches the server after its grace (1 s here: the client's frames take 2 s)
    gets its replay after newer live events (docs/protocol.md §2). The client kept the newest id
    it had queued as its position, so it dropped the replayed ones as already seen: lost."""
    staff = await connect(cast.token(cast.staff))
    _, token, thread_id = await _bot_in_a_thread(cast, staff)
    async with Client(proxy.ws_url, token) as client:
        await staff.ok("send", thread_id=thread_id, body="before", client_msg_id=new_id())
        assert await _staff_messages(client, cast.staff.id, 1) == ["before"]
        proxy.upstream_delay_s = 2.0
        try:
            proxy.cut()
            for body in ("missed 1", "missed 2"):
                await staff.ok("send", thread_id=thread_id, body=body, client_msg_id=new_id())
            while not (client.connected and client.reconnects == 1):  # hello received, resume on its way
                await asyncio.sleep(0.01)
            await staff.ok("send", thread_id=thread_id, body="live", client_msg_id=new_id())
            got = await _staff_messages(client, cast.staff.id, 3)
        finally:
            proxy.upstream_delay_s = 0.0
        assert sorted(got) == ["live", "missed 1", "missed 2"]
        # Back again: nothing of it comes twice.
        proxy.cut()
        await staff.ok("send", thread_id=thread_id, body="after", client_msg_id=new_id())
        assert await _staff_messages(client, cast.staff.id, 1) == ["after"]


async def test_a_refused_resume_is_tried_again_on_a_new_connection(tmp_path: Path) -> None:
    """The resume after a reconnect is answered ``rate_limited`` (the bot's other connection spent
    its budget): the client did not get the replay and went on live, missing what it had missed;
    now it reconnects and resumes again."""
    async with own_chatd(tmp_path, {"CHATD_REQUESTS_PER_SECOND": "1"}) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff), subprotocol=JSON)
        _, token, thread_id = await _bot_in_a_thread(cast, staff)
        balancer = CuttableProxy(process.port)
        await balancer.start()
        async with Client(balancer.ws_url, token) as client:
            await staff.ok("send", thread_id=thread_id, body="before", client_msg_id=new_id())
            assert await _staff_messages(client, cast.staff.id, 1) == ["before"]
            balancer.blackhole()  # the reconnect waits until the budget is spent
            balancer.cut()
            await staff.ok("send", thread_id=thread_id, body="missed", client_msg_id=new_id())
            other = await WsClient.connect(process.ws_url, token, subprotocol=JSON)
            while (await other.call("ping"))["op"] == "ok":
                pass  # spend the bot's budget
            balancer.restore()
            assert await _staff_messages(client, cast.staff.id, 1) == ["missed"]
            assert client.reconnects >= 2
            await other.close()
        await staff.close()
        await balancer.stop()
