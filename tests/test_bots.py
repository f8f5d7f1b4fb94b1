"""Bot users: created by owners (HTTP and CLI), scoped, read-only or not, with revocable, expiring tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets

from chatd.services.context import Services
from protocol.values import BotScope, Role, User
from tests.conftest import Connect, new_id, open_thread
from tests.support import ChatdProcess, Firm, new_firm, seeder
from tests.test_cli import chatd_json


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatdProcess]:
    """This module's chatd reads its time from a file, so a test can make a token expire."""
    data_dir = tmp_path_factory.mktemp("chatd")
    process = ChatdProcess(data_dir, env={"CHATD_CLOCK_FILE": str(data_dir / "clock")})
    process.start()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


class Owner:
    """A firm's owner driving the bots API with a bearer token."""

    def __init__(self, firm: Firm, user: User, http: httpx.AsyncClient) -> None:
        self.firm, self.user, self.http = firm, user, http

    async def new_bot(self, **fields: Any) -> dict[str, Any]:
        answer = await self.http.post("/api/bots", json={"name": "Helper", **fields})
        assert answer.status_code == 201, answer.text
        bot: dict[str, Any] = answer.json()["bot"]
        return bot

    async def new_token(self, bot_id: int, **fields: Any) -> dict[str, Any]:
        answer = await self.http.post(f"/api/bots/{bot_id}/tokens", json=fields)
        assert answer.status_code == 201, answer.text
        token: dict[str, Any] = answer.json()
        return token


@pytest_asyncio.fixture(loop_scope="session")
async def owner(server: ChatdProcess, services: Services) -> AsyncIterator[Owner]:
    firm = await new_firm(services)
    user = await firm.user(Role.OWNER)
    headers = {"Authorization": f"Bearer {await firm.token(user)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        yield Owner(firm, user, http)


async def test_an_owner_creates_a_bot_and_adds_it_to_a_thread(
    server: ChatdProcess, owner: Owner, connect: Connect
) -> None:
    bot = await owner.new_bot(name="FAQ answerer")
    assert bot["role"] == "bot"
    assert bot["scope"] == "threads"
    assert bot["read_only"] is False
    token = await owner.new_token(bot["id"], label="prod")
    assert token["token"].startswith("chatd_")
    staff = await connect(await owner.firm.token(await owner.firm.user(Role.STAFF)))
    client = await owner.firm.user(Role.CLIENT)
    thread_id = (await open_thread(staff, client))["thread"]["id"]

    bot_ws = await connect(token["token"])
    assert bot_ws.hello["user"]["role"] == "bot"
    assert (await bot_ws.ok("threads"))["threads"] == []
    outside = await bot_ws.call("history", thread_id=thread_id)
    assert outside["code"] == "not_found"

    added = await owner.http.post(f"/api/bots/{bot['id']}/threads", json={"thread_id": thread_id})
    assert added.status_code == 204, added.text
    assert [t["id"] for t in (await bot_ws.ok("threads"))["threads"]] == [thread_id]
    await staff.ok("send", thread_id=thread_id, body="Bot, what is the VAT rate?", client_msg_id=new_id())
    await bot_ws.event("message.created", message__body="Bot, what is the VAT rate?")
    answer = await bot_ws.ok("send", thread_id=thread_id, body="20 %", client_msg_id=new_id())
    await staff.event("message.created", message__id=answer["message"]["id"])

    removed = await owner.http.delete(f"/api/bots/{bot['id']}/threads/{thread_id}")
    assert removed.status_code == 204
    assert (await bot_ws.call("history", thread_id=thread_id))["code"] == "not_found"

    listed = (await owner.http.get(f"/api/bots/{bot['id']}/tokens")).json()["tokens"]
    assert [t["id"] for t in listed] == [token["id"]]
    assert "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    assert listed[0]["label"] == "prod"
    assert [b["id"] for b in (await owner.http.get("/api/bots")).json()["bots"]] == [bot["id"]]


async def test_a_firm_wide_bot_sees_every_firm_thread_and_no_other_firm(
    owner: Owner, services: Services, connect: Connect
) -> None:
    bot = await owner.new_bot(scope="firm")
    bot_ws = await connect((await owner.new_token(bot["id"]))["token"])
    staff = await connect(await owner.firm.token(await owner.firm.user(Role.STAFF)))
    opened = await open_thread(staff, await owner.firm.user(Role.CLIENT), body="A new file")
    await bot_ws.event("message.created", message__body="A new file")
    assert opened["thread"]["id"] in [t["id"] for t in (await bot_ws.ok("threads"))["threads"]]

    other_firm = await new_firm(services)
    other_staff = await connect(await other_firm.token(await other_firm.user(Role.STAFF)))
    other_thread = await open_thread(other_staff, await other_firm.user(Role.CLIENT), body="Elsewhere")
    assert (await bot_ws.call("history", thread_id=other_thread["thread"]["id"]))["code"] == "not_found"
    assert await bot_ws.quiet(0.3, "message.created") == []


async def test_a_read_only_bot_reads_but_its_writes_are_refused(
    server: ChatdProcess, owner: Owner, connect: Connect
) -> None:
    bot = await owner.new_bot(scope="firm", read_only=True)
    token = (await owner.new_token(bot["id"]))["token"]
    staff = await connect(await owner.firm.token(await owner.firm.user(Role.STAFF)))
    thread_id = (await open_thread(staff, await owner.firm.user(Role.CLIENT)))["thread"]["id"]
    bot_ws = await connect(token)
    assert len((await bot_ws.ok("history", thread_id=thread_id))["messages"]) == 1
    refused = await bot_ws.call("send", thread_id=thread_id, body="hi", client_msg_id=new_id())
    assert refused["code"] == "read_only"
    assert "read-only" in refused["message"]
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        answer = await http.post(f"/api/threads/{thread_id}/messages", json={"body": "hi", "client_msg_id": new_id()})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "read_only"
    assert len((await bot_ws.ok("history", thread_id=thread_id))["messages"]) == 1

    changed = await owner.http.patch(f"/api/bots/{bot['id']}", json={"read_only": False})
    assert changed.json()["bot"]["read_only"] is False
    bot_ws2 = await connect(token)
    await bot_ws2.ok("send", thread_id=thread_id, body="Now I may write", client_msg_id=new_id())

    off = await owner.http.patch(f"/api/bots/{bot['id']}", json={"active": False})
    assert off.json()["bot"]["active"] is False
    with pytest.raises(websockets.InvalidStatus):
        await connect(token)


async def test_revoked_and_expired_tokens_are_refused_at_the_handshake_and_on_http(
    server: ChatdProcess, owner: Owner, connect: Connect
) -> None:
    bot = await owner.new_bot()
    revoked = await owner.new_token(bot["id"])
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    expiring = await owner.new_token(bot["id"], expires_at=soon)
    assert expiring["expires_at"] is not None
    await connect(expiring["token"])
    await connect(revoked["token"])
    gone = await owner.http.delete(f"/api/bots/{bot['id']}/tokens/{revoked['id']}")
    assert gone.status_code == 204
    (Path(server.data_dir) / "clock").write_text(str(2 * 3600))
    try:
        for token in (revoked["token"], expiring["token"]):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await connect(token)
            assert refused.value.response.status_code == 403
            async with httpx.AsyncClient(base_url=server.base_url) as http:
                answer = await http.get("/api/threads", headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 401
                assert answer.json()["error"]["code"] == "unauthorized"
        tokens = (await owner.http.get(f"/api/bots/{bot['id']}/tokens")).json()["tokens"]
        assert {t["id"]: t["revoked_at"] is not None for t in tokens} == {revoked["id"]: True, expiring["id"]: False}
    finally:
        (Path(server.data_dir) / "clock").write_text("0")


async def test_only_owners_manage_bots_and_only_their_firm(
    owner: Owner, services: Services, server: ChatdProcess
) -> None:
    bot = await owner.new_bot()
    staff = await owner.firm.user(Role.STAFF)
    other_firm = await new_firm(services)
    other_owner = await other_firm.user(Role.OWNER)
    for caller in (await owner.firm.token(staff), await other_firm.token(other_owner)):
        async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {caller}"}) as http:
            for answer in (
                await http.get(f"/api/bots/{bot['id']}"),
                await http.post(f"/api/bots/{bot['id']}/tokens", json={}),
                await http.patch(f"/api/bots/{bot['id']}", json={"read_only": True}),
            ):
                assert answer.status_code == 404, answer.text
                assert answer.json()["error"]["code"] == "not_found"
    bad = await owner.http.post(f"/api/bots/{bot['id']}/tokens", json={"expires_at": "2020-01-01T00:00:00Z"})
    assert bad.status_code == 400
    naive = await owner.http.post(f"/api/bots/{bot['id']}/tokens", json={"expires_at": "2030-01-01T00:00:00"})
    assert naive.status_code == 400
    assert (await owner.http.post("/api/bots", json={"name": "x", "scope": "galaxy"})).status_code == 400
    assert len((await owner.http.get(f"/api/bots/{bot['id']}/tokens")).json()["tokens"]) == 0


async def test_the_cli_creates_a_scoped_read_only_bot_and_an_expiring_token(tmp_path: Path) -> None:
    firm = chatd_json(tmp_path, "create-firm", "--name", "Gestion Moreau")
    bot = chatd_json(
        tmp_path,
        "create-user",
        "--firm",
        str(firm["id"]),
        "--email",
        "crm@moreau.test",
        "--name",
        "CRM sync",
        "--role",
        "bot",
        "--bot-scope",
        "firm",
        "--read-only",
    )
    assert bot["role"] == "bot"
    async with seeder(tmp_path, {}) as found:
        account = await found.directory.account(bot["id"])
    assert account is not None
    assert account.bot_scope is BotScope.FIRM
    assert account.read_only
    token = chatd_json(tmp_path, "create-token", "--user", str(bot["id"]), "--expires-days", "30")
    assert token["token"].startswith("chatd_")
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) < timedelta(days=31)


async def test_an_integration_posts_over_http_with_its_token_once_per_client_msg_id(
    server: ChatdProcess, owner: Owner, connect: Connect, services: Services
) -> None:
    bot = await owner.new_bot(name="CRM sync")
    token = (await owner.new_token(bot["id"]))["token"]
    staff = await connect(await owner.firm.token(await owner.firm.user(Role.STAFF)))
    thread_id = (await open_thread(staff, await owner.firm.user(Role.CLIENT)))["thread"]["id"]
    other_firm = await new_firm(services)
    other_staff = await connect(await other_firm.token(await other_firm.user(Role.STAFF)))
    elsewhere = (await open_thread(other_staff, await other_firm.user(Role.CLIENT)))["thread"]["id"]
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        path = f"/api/threads/{thread_id}/messages"
        outside = await http.post(path, json={"body": "Invoice 12 paid", "client_msg_id": "crm-12"})
        assert outside.status_code == 404  # not added to the thread yet
        await owner.http.post(f"/api/bots/{bot['id']}/threads", json={"thread_id": thread_id})
        first = await http.post(path, json={"body": "Invoice 12 paid", "client_msg_id": "crm-12"})
        retry = await http.post(path, json={"body": "Invoice 12 paid", "client_msg_id": "crm-12"})
        assert first.status_code == retry.status_code == 201
        assert first.json()["message"]["id"] == retry.json()["message"]["id"]
        assert first.json()["message"]["client_msg_id"] == "crm-12"
        other = await http.post(f"/api/threads/{elsewhere}/messages", json={"body": "leak?", "client_msg_id": "crm-13"})
        assert other.status_code == 404
        assert other.json()["error"]["code"] == "not_found"
    await staff.event("message.created", message__body="Invoice 12 paid")
    assert await staff.quiet(0.3, "message.created") == []
