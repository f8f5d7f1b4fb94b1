"""Two chatd processes on one Redis and one database: every event type crosses between them, and a
user's request budget and typing throttle are the same whichever process their sessions are on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from chatd.services.context import Services
from chatd.throttles import RedisThrottles
from tests.conftest import make_cast, new_id, open_thread
from tests.support import ChatdProcess, RedisServer, WsClient, seeder

RATE = 5


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[tuple[ChatdProcess, ...]]:
    data_dir = tmp_path_factory.mktemp("pair")
    env = {"CHATD_REDIS_URL": redis_server.url, "CHATD_REQUESTS_PER_SECOND": str(RATE)}
    processes = (ChatdProcess(data_dir, env=env), ChatdProcess(data_dir, env=env))
    for process in processes:
        process.start()
    yield processes
    for process in processes:
        process.stop()
        assert "Traceback" not in process.log(), process.log()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pair_services(pair: tuple[ChatdProcess, ...]) -> AsyncIterator[Services]:
    async with seeder(pair[0].data_dir, pair[0].env) as services:
        yield services


@pytest_asyncio.fixture(loop_scope="session")
async def clients() -> AsyncIterator[list[WsClient]]:
    opened: list[WsClient] = []
    yield opened
    await asyncio.gather(*(c.close() for c in opened))


async def _connect(opened: list[WsClient], process: ChatdProcess, token: str) -> WsClient:
    client = await WsClient.connect(process.ws_url, token)
    opened.append(client)
    return client


async def test_every_event_type_crosses_processes(
    pair: tuple[ChatdProcess, ...], pair_services: Services, clients: list[WsClient]
) -> None:
    one, two = pair
    cast = await make_cast(pair_services)
    staff = await _connect(clients, one, cast.token(cast.staff))
    client = await _connect(clients, two, cast.token(cast.client))
    await client.ok("ping")

    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("thread.created", thread__id=thread_id)
    first = await client.event("message.created", message__thread_id=thread_id)
    message_id = first["data"]["message"]["id"]
    await staff.ok("edit", message_id=message_id, body="edited on one")
    await client.event("message.updated", message__id=message_id, message__body="edited on one")
    await staff.ok("delete", message_id=message_id)
    await client.event("message.deleted", message__id=message_id)

    reply = await client.ok("send", thread_id=thread_id, body="from two", client_msg_id=new_id())
    await staff.event("message.created", message__id=reply["message"]["id"])
    thanks = await staff.ok("send", thread_id=thread_id, body="thanks", client_msg_id=new_id())
    await client.event("message.created", message__id=thanks["message"]["id"])
    await client.ok("read", thread_id=thread_id, message_id=thanks["message"]["id"])
    await staff.event("read", user_id=cast.client.id, message_id=thanks["message"]["id"])
    await client.ok("typing", thread_id=thread_id)
    await staff.event("typing", user_id=cast.client.id, thread_id=thread_id)


async def test_a_user_has_one_request_budget_across_processes(
    pair: tuple[ChatdProcess, ...], pair_services: Services, clients: list[WsClient]
) -> None:
    cast = await make_cast(pair_services)
    sessions = [await _connect(clients, process, cast.token(cast.client)) for process in pair]
    for n in range(2 * RATE):
        session = sessions[n % 2]
        await session.send_raw(session.encode({"op": "ping", "id": 100 + n}))
    answers = [
        await session.next_frame(lambda f, i=100 + n: f.get("id") == i)
        for n in range(2 * RATE)
        for session in [sessions[n % 2]]
    ]
    granted = [a for a in answers if a["op"] == "ok"]
    limited = [a for a in answers if a["op"] == "error"]
    # Each process alone would grant all ten (five each); one budget grants the burst of five,
    # plus what refills while the requests are on their way.
    assert RATE <= len(granted) <= RATE + 2, answers
    assert all(a["code"] == "rate_limited" for a in limited)


async def test_typing_is_throttled_across_processes(
    pair: tuple[ChatdProcess, ...], pair_services: Services, clients: list[WsClient]
) -> None:
    one, two = pair
    cast = await make_cast(pair_services)
    staff = await _connect(clients, one, cast.token(cast.staff))
    typist_one = await _connect(clients, one, cast.token(cast.client))
    typist_two = await _connect(clients, two, cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await typist_two.event("message.created", message__thread_id=thread_id)

    await typist_one.ok("typing", thread_id=thread_id)
    await typist_two.ok("typing", thread_id=thread_id)
    await staff.event("typing", user_id=cast.client.id)
    assert await staff.quiet(0.5, "typing") == []


async def test_limits_count_in_the_process_while_redis_is_down(
    pair: tuple[ChatdProcess, ...], pair_services: Services, clients: list[WsClient], redis_server: RedisServer
) -> None:
    one, _ = pair
    cast = await make_cast(pair_services)
    staff = await _connect(clients, one, cast.token(cast.staff))
    client = await _connect(clients, one, cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("message.created", message__thread_id=thread_id)
    redis_server.stop()
    try:
        await client.ok("ping")
        await client.ok("typing", thread_id=thread_id)
        await staff.event("typing", user_id=cast.client.id)
    finally:
        redis_server.start()


async def test_a_burst_wider_than_the_redis_pool_waits_for_a_connection(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """500 checks at once (a reconnect storm's hellos) share the process's few Redis connections:
    each waits for one instead of failing over to counting in the process."""
    throttles = RedisThrottles(redis_server.url, requests_per_second=5, typing_interval_s=3, logins_per_minute=10)
    try:
        with caplog.at_level(logging.WARNING, logger="chatd.throttles"):
            waits = await asyncio.gather(*(throttles.take_request(user_id) for user_id in range(1, 501)))
        assert waits == [0.0] * 500  # each user's first request, within its budget
        # Never for want of a connection (a loaded machine may still time out now and then: the
        # quarter-second bound is the point of counting in the process meanwhile).
        assert "Too many connections" not in caplog.text
    finally:
        await throttles.close()
