"""Outgoing webhooks against a real local receiver: signed, retried with backoff, disabled with a
reason, never in the way of delivery to people, and never aimed at private addresses unless allowed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from chatd.services.context import Services
from protocol.values import Role
from tests.conftest import Connect, new_id, open_thread, own_chatd
from tests.receiver import Received, Receiver
from tests.support import JSON, ChatdProcess, Firm, WsClient, new_firm, seeder
from tests.test_bots import Owner

SETTINGS = {
    "CHATD_SCHEDULER_TICK_MS": "100",
    "CHATD_WEBHOOK_ALLOW_PRIVATE": "1",
    "CHATD_WEBHOOK_TIMEOUT_MS": "400",
    "CHATD_WEBHOOK_DISABLE_AFTER": "3",
    "CHATD_WEBHOOK_RETRY_BASE_S": "10",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatdProcess]:
    data_dir = tmp_path_factory.mktemp("chatd")
    process = ChatdProcess(data_dir, env={**SETTINGS, "CHATD_CLOCK_FILE": str(data_dir / "clock")})
    process.start()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.start()
    yield found
    found.stop()


class Clock:
    """Moves the module server's time forward (chatd.clock.OffsetClock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0

    def forward(self, seconds: float) -> None:
        self.offset += seconds
        self.path.write_text(str(self.offset))


@pytest.fixture(scope="module")
def clock(server: ChatdProcess) -> Clock:
    return Clock(server.data_dir / "clock")


@pytest_asyncio.fixture(loop_scope="session")
async def owner(server: ChatdProcess, services: Services) -> AsyncIterator[Owner]:
    firm = await new_firm(services)
    user = await firm.user(Role.OWNER)
    headers = {"Authorization": f"Bearer {await firm.token(user)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        yield Owner(firm, user, http)


def verify(secret: str, request: Received) -> dict[str, Any]:
    """What docs/bots.md tells a receiver to do: recompute the signature, compare in constant time."""
    timestamp = request.headers["x-chatd-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-chatd-signature"], f"v1={expected}")
    payload: dict[str, Any] = json.loads(request.body)
    assert request.headers["x-chatd-delivery"] == str(payload["delivery_id"])
    return payload


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def _hooked_bot(owner: Owner, receiver: Receiver, connect: Connect) -> tuple[dict[str, Any], str, Any, int]:
    bot = await owner.new_bot()
    staff = await connect(await owner.firm.token(await owner.firm.user(Role.STAFF)))
    thread_id = (await open_thread(staff, await owner.firm.user(Role.CLIENT)))["thread"]["id"]
    added = await owner.http.post(f"/api/bots/{bot['id']}/threads", json={"thread_id": thread_id})
    assert added.status_code == 204
    # Events from before the webhook was set are not posted.
    answer = await owner.http.put(f"/api/bots/{bot['id']}/webhook", json={"url": receiver.url})
    assert answer.status_code == 201, answer.text
    secret = answer.json()["webhook"]["secret"]
    assert secret.startswith("whsec_")
    return bot, secret, staff, thread_id


async def _status(owner: Owner, bot_id: int) -> dict[str, Any]:
    answer = await owner.http.get(f"/api/bots/{bot_id}/webhook")
    assert answer.status_code == 200, answer.text
    webhook: dict[str, Any] = answer.json()["webhook"]
    assert "secret" not in webhook
    return webhook


async def test_events_are_posted_signed_and_the_bots_own_messages_are_not(
    owner: Owner, receiver: Receiver, connect: Connect, server: ChatdProcess
) -> None:
    start = len(receiver.received)
    bot, secret, staff, thread_id = await _hooked_bot(owner, receiver, connect)
    await staff.ok("send", thread_id=thread_id, body="Can you check my invoice?", client_msg_id=new_id())
    request = (await asyncio.to_thread(receiver.wait_for, start + 1))[start]
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    payload = verify(secret, request)
    assert payload["attempt"] == 1
    event = payload["event"]
    assert event["type"] == "message.created"
    assert event["data"]["message"]["body"] == "Can you check my invoice?"
    assert event["event_id"] >= 1

    # The bot answers over HTTP with its token (incoming); that message is not posted back to it.
    token = (await owner.new_token(bot["id"]))["token"]
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        posted = await http.post(
            f"/api/threads/{thread_id}/messages", json={"body": "Checked: all good.", "client_msg_id": "inv-1"}
        )
        assert posted.status_code == 201
    await staff.event("message.created", message__body="Checked: all good.")
    await staff.ok("send", thread_id=thread_id, body="Thanks!", client_msg_id=new_id())
    later = (await asyncio.to_thread(receiver.wait_for, start + 2))[start + 1]
    assert verify(secret, later)["event"]["data"]["message"]["body"] == "Thanks!"
    assert len(receiver.received) == start + 2
    await until(lambda: _delivered(owner, bot["id"], 2))


async def _delivered(owner: Owner, bot_id: int, count: int) -> bool:
    return (await _status(owner, bot_id))["deliveries"].get("delivered", 0) == count


async def test_failures_are_retried_with_backoff_then_the_webhook_is_disabled_with_a_reason(
    owner: Owner, receiver: Receiver, connect: Connect, clock: Clock
) -> None:
    bot, secret, staff, thread_id = await _hooked_bot(owner, receiver, connect)
    start = len(receiver.received)

    # Two 500s, then success: the same delivery, attempts 1, 2, 3.
    receiver.fail_with(500, times=2)
    await staff.ok("send", thread_id=thread_id, body="first", client_msg_id=new_id())
    await asyncio.to_thread(receiver.wait_for, start + 1)
    await until(lambda: _failures(owner, bot["id"], 1))
    assert (await _status(owner, bot["id"]))["last_error"] == "HTTP 500"
    await asyncio.sleep(0.3)
    assert len(receiver.received) == start + 1  # not retried before its backoff is over
    clock.forward(11)
    await asyncio.to_thread(receiver.wait_for, start + 2)
    await until(lambda: _failures(owner, bot["id"], 2))
    clock.forward(21)
    attempts = [verify(secret, r) for r in (await asyncio.to_thread(receiver.wait_for, start + 3))[start:]]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert len({a["delivery_id"] for a in attempts}) == 1
    await until(lambda: _delivered(owner, bot["id"], 1))
    assert (await _status(owner, bot["id"]))["consecutive_failures"] == 0

    # A receiver that hangs past the timeout: retried, and after three failures in a row, disabled.
    receiver.hang(1.0, times=3)
    await staff.ok("send", thread_id=thread_id, body="second", client_msg_id=new_id())
    await until(lambda: _failures(owner, bot["id"], 1))
    clock.forward(11)
    await until(lambda: _failures(owner, bot["id"], 2))
    clock.forward(21)
    await until(lambda: _failures(owner, bot["id"], 3))
    webhook = await _status(owner, bot["id"])
    assert webhook["active"] is False
    assert "3 consecutive failed deliveries" in webhook["disabled_reason"]
    assert "timed out" in webhook["disabled_reason"]
    assert webhook["deliveries"] == {"delivered": 1, "pending": 1}
    listed = (await owner.http.get(f"/api/bots/{bot['id']}/webhook/deliveries")).json()["deliveries"]
    assert [(d["state"], d["attempts"]) for d in listed] == [("pending", 3), ("delivered", 3)]
    assert listed[0]["last_error"].startswith("timed out")
    assert listed[0]["next_attempt_at"] is not None

    # Turned back on, the pending delivery goes out.
    enabled = await owner.http.post(f"/api/bots/{bot['id']}/webhook/enable")
    assert enabled.json()["webhook"]["active"] is True
    clock.forward(41)
    await until(lambda: _delivered(owner, bot["id"], 2))


async def test_slow_webhooks_never_delay_delivery_to_people(owner: Owner, receiver: Receiver, connect: Connect) -> None:
    bot, _, staff, _ = await _hooked_bot(owner, receiver, connect)
    client = await owner.firm.user(Role.CLIENT)
    opened = await staff.ok(
        "thread.create",
        subject="Lease",
        body="Hello",
        client_msg_id=new_id(),
        client_account_id=client.client_account_id,
        participants=[bot["id"]],
    )
    client_ws = await connect(await owner.firm.token(client))
    receiver.hang(1.0, times=5)
    for n in range(5):
        await staff.ok("send", thread_id=opened["thread"]["id"], body=f"quick {n}", client_msg_id=new_id())
    for n in range(5):
        await client_ws.event("message.created", message__body=f"quick {n}", timeout=1.0)


async def _failures(owner: Owner, bot_id: int, count: int) -> bool:
    return (await _status(owner, bot_id))["consecutive_failures"] == count


async def test_private_and_loopback_targets_are_refused_unless_allowed(tmp_path: Path) -> None:
    async with own_chatd(tmp_path, {}) as (process, _):
        async with seeder(tmp_path, {}) as services:
            firm = await new_firm(services)
            user = await firm.user(Role.OWNER)
            token = await firm.token(user)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=process.base_url, headers=headers) as http:
            owner = Owner(firm, user, http)
            bot = await owner.new_bot()
            for url in (
                "http://127.0.0.1:8080/hook",
                "http://localhost/hook",
                "http://10.1.2.3/hook",
                "http://192.168.0.10/hook",
                "http://[::1]/hook",
                "http://169.254.169.254/latest/meta-data",
                "ftp://example.test/hook",
                "http://user:pw@example.test/hook",
            ):
                answer = await http.put(f"/api/bots/{bot['id']}/webhook", json={"url": url})
                assert answer.status_code == 400, url
                assert answer.json()["error"]["code"] == "bad_request"
            assert (await http.get(f"/api/bots/{bot['id']}/webhook")).status_code == 404


async def test_a_restart_loses_no_delivery(tmp_path: Path) -> None:
    env = {**SETTINGS, "CHATD_CLOCK_FILE": str(tmp_path / "clock")}
    receiver = Receiver()  # its own: no answers planned by other tests are left in it
    receiver.start()
    try:
        async with own_chatd(tmp_path, env) as (process, cast):
            async with seeder(tmp_path, env) as services:
                firm = Firm(services, cast.firm.id)
                user = await firm.user(Role.OWNER)
                token = await firm.token(user)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=process.base_url, headers=headers, timeout=10) as http:
                owner = Owner(firm, user, http)
                bot = await owner.new_bot(scope="firm")
                staff = await WsClient.connect(process.ws_url, cast.token(cast.staff), subprotocol=JSON)
                thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
                hook = await http.put(f"/api/bots/{bot['id']}/webhook", json={"url": receiver.url})
                secret = hook.json()["webhook"]["secret"]
                start = len(receiver.received)
                receiver.fail_with(500, times=1)
                await staff.ok("send", thread_id=thread_id, body="Before the restart", client_msg_id=new_id())
                await staff.close()
                await until(lambda: _failures(owner, bot["id"], 1))
                failed = verify(secret, (await asyncio.to_thread(receiver.wait_for, start + 1))[start])
                process.stop()
                Clock(tmp_path / "clock").forward(11)
                process.start()
                retried = verify(secret, (await asyncio.to_thread(receiver.wait_for, start + 2))[start + 1])
                assert retried["delivery_id"] == failed["delivery_id"]
                assert retried["attempt"] == 2
                assert retried["event"]["data"]["message"]["body"] == "Before the restart"
                await until(lambda: _delivered(owner, bot["id"], 1))
    finally:
        receiver.stop()
