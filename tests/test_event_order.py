"""Event ids on PostgreSQL, where a transaction can take a smaller id and commit after a larger one:
no reader (live delivery, resume) may move past an id that can still commit.

Runs on the session's PostgreSQL cluster whichever database the rest of the suite uses: on SQLite
one writer at a time makes the out-of-order commit impossible to stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from chatd.services.context import Services
from protocol.values import MessageKind
from storage import events as event_store
from storage import messages as message_store
from storage.messages import Body
from tests.conftest import Cast, make_cast, new_id, open_thread
from tests.support import ChatdProcess, WsClient, postgres_cluster, seeder


@pytest.fixture(scope="module")
def pg_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return tmp_path_factory.mktemp("order"), {"CHATD_DATABASE_URL": postgres_cluster().database("event_order")}


@pytest.fixture(scope="module")
def pg_server(pg_env: tuple[Path, dict[str, str]]) -> Iterator[ChatdProcess]:
    process = ChatdProcess(*pg_env)
    process.start()
    yield process
    process.stop()
    assert "Traceback" not in process.log(), process.log()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pg_services(pg_server: ChatdProcess) -> AsyncIterator[Services]:
    async with seeder(pg_server.data_dir, pg_server.env) as services:
        yield services


async def _held_message(
    services: Services, cast: Cast, thread_id: int, taken: asyncio.Future[int], release: asyncio.Event
) -> None:
    """Write a message and its event in one transaction, report the event id, and commit only
    when released. It publishes nothing: the server must find it in SQL, as after a crash."""
    now = services.clock.now()
    async with services.db.write() as conn:
        message = await message_store.insert_message(
            conn,
            thread_id=thread_id,
            author_id=cast.staff.id,
            kind=MessageKind.MESSAGE,
            body=Body(source="committed late", html="<p>committed late</p>", embeds=[]),
            client_msg_id=new_id(),
            now=now,
        )
        record = await event_store.append_event(
            conn,
            firm_id=cast.firm.id,
            type="message.created",
            thread_id=thread_id,
            message_id=message.value.id,
            now=now,
        )
        taken.set_result(record.id)
        await release.wait()


async def _rolled_back_event(services: Services, cast: Cast, thread_id: int) -> None:
    async with services.db.write() as conn:
        await event_store.append_event(
            conn, firm_id=cast.firm.id, type="read", thread_id=thread_id, now=services.clock.now()
        )
        raise RuntimeError("roll back")


async def test_an_event_that_commits_after_a_newer_one_is_not_skipped(
    pg_server: ChatdProcess, pg_services: Services
) -> None:
    cast = await make_cast(pg_services)
    staff = await WsClient.connect(pg_server.ws_url, cast.token(cast.staff))
    client = await WsClient.connect(pg_server.ws_url, cast.token(cast.client))
    slow_thread = (await open_thread(staff, cast.client))["thread"]["id"]
    fast_thread = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("message.created", message__thread_id=fast_thread)
    start = client.events[-1]["event_id"]

    taken: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    release = asyncio.Event()
    writer = asyncio.create_task(_held_message(pg_services, cast, slow_thread, taken, release))
    early_id = await taken
    sent = await staff.ok("send", thread_id=fast_thread, body="committed first", client_msg_id=new_id())
    # The newer event is committed, but the older id may still commit: it must wait.
    assert await client.quiet(0.5, "message.created") == []

    release.set()
    await writer
    late = await client.event("message.created", message__id=sent["message"]["id"])
    # Only the messages: other events (the client's notifications) come too.
    bodies = [
        e["data"]["message"]["body"] for e in client.events if e["event_id"] > start and e["type"] == "message.created"
    ]
    assert bodies == ["committed late", "committed first"]
    assert early_id < late["event_id"]

    # A client that resumes from before both gets both, in id order.
    resumed = await WsClient.connect(pg_server.ws_url, cast.token(cast.client))
    assert resumed.hello["event_id"] >= late["event_id"]
    await resumed.ok("resume", after_event_id=start)
    replayed = [e["data"]["message"]["body"] for e in resumed.events if e["type"] == "message.created"]
    assert replayed == ["committed late", "committed first"]
    await asyncio.gather(staff.close(), client.close(), resumed.close())


async def test_an_id_that_never_commits_does_not_stall_delivery(pg_server: ChatdProcess, pg_services: Services) -> None:
    cast = await make_cast(pg_services)
    staff = await WsClient.connect(pg_server.ws_url, cast.token(cast.staff))
    client = await WsClient.connect(pg_server.ws_url, cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.event("message.created", message__thread_id=thread_id)

    # A transaction takes an event id and rolls back: the id is a hole for good.
    with pytest.raises(RuntimeError, match="roll back"):
        await _rolled_back_event(pg_services, cast, thread_id)
    sent = await staff.ok("send", thread_id=thread_id, body="after the hole", client_msg_id=new_id())
    await client.event("message.created", message__id=sent["message"]["id"])
    await asyncio.gather(staff.close(), client.close())
