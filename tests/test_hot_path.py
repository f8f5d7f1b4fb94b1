"""Statement counts on the hot path, so a change that adds round trips to every send shows up."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import event

from chatd.services.context import Services
from chatd.services.notifications import FAN_OUT_EVENTS
from protocol.values import MessageKind, Role
from storage.inline_sqlite import InlineConnection
from tests.support import ON_POSTGRESQL, new_firm, seeder

MESSAGES = 6


@pytest_asyncio.fixture(loop_scope="session")
async def live_services(tmp_path: Path) -> AsyncIterator[Services]:
    async with seeder(tmp_path, {}) as services:
        await services.db.migrate()
        await services.hub.start()
        await services.broker.start(services.hub)
        yield services


def _count_statements(services: Services) -> list[str]:
    """Every statement sent to the database from now on. On the batch writer's inline SQLite
    connection, prepared statements bypass SQLAlchemy (storage/prepared.py): there, SQLite's own
    trace counts them all, and SQLAlchemy's event is left out so none is counted twice."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not _inline(conn.connection.dbapi_connection):
            statements.append(statement)

    def trace(statement: str) -> None:
        # Not a trigger's statements ("-- TRIGGER") nor the full-text index's own ("'main'.…"),
        # which SQLite runs as part of the statement that caused them, and which also trace that
        # statement again; nor the COMMIT, which SQLAlchemy's event does not see either.
        if statement.startswith("--") or "'main'." in statement or statement == "COMMIT":
            return
        if not statements or statements[-1] != statement:
            statements.append(statement)

    def checkout(dbapi_connection: Any, *args: Any) -> None:
        if _inline(dbapi_connection):
            dbapi_connection.driver_connection.sqlite.set_trace_callback(trace)

    for engine in services.db.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        event.listen(engine.sync_engine, "checkout", checkout)
    return statements


def _inline(dbapi_connection: Any) -> bool:
    return isinstance(getattr(dbapi_connection, "driver_connection", None), InlineConnection)


async def test_a_send_is_one_transaction_of_few_statements(live_services: Services) -> None:
    firm = await new_firm(live_services)
    staff = await live_services.directory.account((await firm.user(Role.STAFF)).id)
    client_user = await firm.user(Role.CLIENT)
    client = await live_services.directory.account(client_user.id)
    assert staff is not None
    assert client is not None
    thread, _ = await live_services.conversations.create_thread(
        staff,
        subject="s",
        body="b",
        client_msg_id="k",
        client_account_id=client_user.client_account_id,
        participants=[],
    )
    statements = _count_statements(live_services)
    for _ in range(3):
        statements.clear()
        await live_services.conversations.send(
            client, thread_id=thread.id, body="hello", client_msg_id=uuid.uuid4().hex, kind=MessageKind.MESSAGE
        )
        if ON_POSTGRESQL:
            # No BEGIN through the cursor; the thread lock and the xid that settled_event_id needs.
            assert len(statements) <= 9, statements
        else:
            assert statements[0] == "BEGIN IMMEDIATE"
            assert len(statements) <= 8, statements
    statements.clear()
    await live_services.conversations.send(
        staff, thread_id=thread.id, body="answer", client_msg_id=uuid.uuid4().hex, kind=MessageKind.MESSAGE
    )
    # No SMTP server or SMS provider here: no copy can go out, so the author's defaults go unread.
    assert not [s for s in statements if "notification_settings" in s], statements
    statements.clear()
    _message, _ = await live_services.conversations.history(
        client, thread_id=thread.id, before=None, after=None, limit=1
    )
    assert len(statements) <= 4, statements


async def test_a_signed_staff_send_reads_its_signature_in_its_own_transaction(live_services: Services) -> None:
    firm = await new_firm(live_services)
    staff = await live_services.directory.account((await firm.user(Role.STAFF)).id)
    client_user = await firm.user(Role.CLIENT)
    assert staff is not None
    thread, _ = await live_services.conversations.create_thread(
        staff,
        subject="s",
        body="b",
        client_msg_id="k",
        client_account_id=client_user.client_account_id,
        participants=[],
    )
    await live_services.conversations.signatures.set_mine(staff, "Anna, tax team")
    statements = _count_statements(live_services)
    sent = await live_services.conversations.send(
        staff, thread_id=thread.id, body="signed", client_msg_id=uuid.uuid4().hex, kind=MessageKind.MESSAGE
    )
    assert sent.body == "signed\n\nAnna, tax team"  # read in the send's one transaction
    if not ON_POSTGRESQL:
        assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"], statements
    assert len(statements) <= 11, statements


async def test_the_notification_fan_out_is_a_few_statements_whatever_the_messages(live_services: Services) -> None:
    firm = await new_firm(live_services)
    staff = await live_services.directory.account((await firm.user(Role.STAFF)).id)
    assert staff is not None
    threads = []
    for _ in range(MESSAGES):
        client_user = await firm.user(Role.CLIENT)
        thread, _ = await live_services.conversations.create_thread(
            staff,
            subject="s",
            body="b",
            client_msg_id=uuid.uuid4().hex,
            client_account_id=client_user.client_account_id,
            participants=[],
        )
        threads.append(thread)
    while await live_services.notifications.fan_out():  # what came before
        pass
    for thread in threads:
        await live_services.conversations.send(
            staff, thread_id=thread.id, body="hello", client_msg_id=uuid.uuid4().hex, kind=MessageKind.MESSAGE
        )
    statements = _count_statements(live_services)
    assert await live_services.notifications.fan_out() >= MESSAGES
    # Per fan-out, whatever the count of messages: the events, the messages, their audiences, the
    # mentions, the recipients' settings, the rows stored, one statement each.
    assert len(statements) <= 14, statements


async def test_a_long_fan_out_stores_its_notifications_a_batch_at_a_time(live_services: Services) -> None:
    """Each batch's write holds SQLite's one writer; sends queued meanwhile go between batches."""
    firm = await new_firm(live_services)
    staff = await live_services.directory.account((await firm.user(Role.STAFF)).id)
    client_user = await firm.user(Role.CLIENT)
    assert staff is not None
    thread, _ = await live_services.conversations.create_thread(
        staff,
        subject="s",
        body="b",
        client_msg_id=uuid.uuid4().hex,
        client_account_id=client_user.client_account_id,
        participants=[],
    )
    while await live_services.notifications.fan_out():  # what came before
        pass
    sends = FAN_OUT_EVENTS + FAN_OUT_EVENTS // 2
    for n in range(sends):
        await live_services.conversations.send(
            staff, thread_id=thread.id, body=f"m{n}", client_msg_id=uuid.uuid4().hex, kind=MessageKind.MESSAGE
        )
    statements = _count_statements(live_services)
    assert await live_services.notifications.fan_out() >= sends  # all of them, in one run
    writes = [s for s in statements if s.startswith("INSERT INTO notifications")]
    assert len(writes) >= 2, statements
