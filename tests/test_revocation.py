"""Credentials that stop working close their open sockets on every process within 5 s (close code
4003), and the old credentials open nothing again: logout, password change, deactivation (owner
or operator), role change, token revocation. Two chatd processes on one Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import websockets

from chatd.services.context import Services
from protocol.values import Role, User
from tests.conftest import own_chatd
from tests.support import ChatdProcess, Firm, RedisServer, WsClient, new_firm, seeder
from tests.test_cli import chatd_json

ORIGIN = "https://app.example.test"
PASSWORD = "correct horse battery"
REVOKED = 4003
# The promise is 5 s; an opened socket's close arrives well within it on an idle machine.
DEADLINE_S = 5.0


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[tuple[ChatdProcess, ChatdProcess]]:
    data_dir = tmp_path_factory.mktemp("revocation")
    env = {"CHATD_REDIS_URL": redis_server.url, "CHATD_ALLOWED_ORIGINS": ORIGIN}
    one, two = ChatdProcess(data_dir, env=env), ChatdProcess(data_dir, env=env)
    one.start()
    two.start()
    yield one, two
    one.stop()
    two.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def firm(pair: tuple[ChatdProcess, ChatdProcess]) -> AsyncIterator[Firm]:
    async with seeder(pair[0].data_dir, pair[0].env) as services:
        yield await new_firm(services, "Revocation firm")


@dataclass
class Sockets:
    """A user's open sockets, by the credential that opened them, on both processes."""

    opened: dict[str, list[WsClient]]

    async def closed_within(self, *names: str) -> float:
        """Wait until every socket of ``names`` is closed with 4003; the slowest's seconds."""
        started = time.monotonic()
        slowest = 0.0
        for name in names:
            for client in self.opened[name]:
                await asyncio.wait_for(client.closed.wait(), DEADLINE_S)
                slowest = max(slowest, time.monotonic() - started)
                assert client.conn.close_code == REVOKED, (name, client.conn.close_code)
        return slowest

    async def still_open(self, *names: str) -> None:
        for name in names:
            for client in self.opened[name]:
                assert await client.ok("ping"), name

    async def close(self) -> None:
        for clients in self.opened.values():
            for client in clients:
                await client.close()


async def _login(server: ChatdProcess, email: str, password: str = PASSWORD) -> str:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        answer = await http.post("/api/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        return answer.cookies["chatd_session"]


def _cookie(cookie: str) -> dict[str, str]:
    return {"Cookie": f"chatd_session={cookie}", "Origin": ORIGIN}


async def _open(pair: tuple[ChatdProcess, ChatdProcess], **credentials: dict[str, str]) -> Sockets:
    """One socket per credential on each process (credentials as handshake headers)."""
    opened = {
        name: [await WsClient.connect(p.ws_url, headers=headers) for p in pair] for name, headers in credentials.items()
    }
    sockets = Sockets(opened)
    await sockets.still_open(*credentials)
    return sockets


async def _refused(server: ChatdProcess, headers: dict[str, str]) -> None:
    with pytest.raises(websockets.InvalidStatus) as denied:
        await websockets.connect(server.ws_url, additional_headers=headers)
    assert denied.value.response.status_code == 403


async def _person(firm: Firm, role: Role = Role.STAFF) -> tuple[User, dict[str, str]]:
    user = await firm.user(role, password=PASSWORD)
    return user, {"Authorization": f"Bearer {await firm.token(user)}"}


async def test_logout_closes_that_logins_sockets_only(firm: Firm, pair: tuple[ChatdProcess, ChatdProcess]) -> None:
    one, two = pair
    user, bearer = await _person(firm)
    mine, other = await _login(one, user.email), await _login(two, user.email)
    sockets = await _open(pair, mine=_cookie(mine), other=_cookie(other), token=bearer)
    async with httpx.AsyncClient(base_url=two.base_url, headers=_cookie(mine)) as http:
        assert (await http.post("/api/logout")).status_code == 204
    assert await sockets.closed_within("mine") < DEADLINE_S
    await sockets.still_open("other", "token")
    await _refused(one, _cookie(mine))
    await sockets.close()


async def test_a_password_change_closes_every_login_and_the_old_cookies_stay_out(
    firm: Firm, pair: tuple[ChatdProcess, ChatdProcess]
) -> None:
    one, two = pair
    user, bearer = await _person(firm, Role.CLIENT)
    mine, other = await _login(one, user.email), await _login(two, user.email)
    sockets = await _open(pair, mine=_cookie(mine), other=_cookie(other), token=bearer)
    async with httpx.AsyncClient(base_url=one.base_url, headers=_cookie(mine)) as http:
        changed = await http.post(
            "/api/me/password", json={"current_password": PASSWORD, "new_password": "a brand new one"}
        )
        assert changed.status_code == 204
        fresh = changed.cookies["chatd_session"]
    assert await sockets.closed_within("mine", "other") < DEADLINE_S
    await sockets.still_open("token")
    for old in (mine, other):
        await _refused(two, _cookie(old))
    again = await WsClient.connect(two.ws_url, headers=_cookie(fresh))
    assert again.hello["user"]["id"] == user.id
    await again.close()
    await sockets.close()


async def test_deactivation_by_an_owner_closes_everything(firm: Firm, pair: tuple[ChatdProcess, ChatdProcess]) -> None:
    one, two = pair
    user, bearer = await _person(firm)
    _, as_owner = await _person(firm, Role.OWNER)
    sockets = await _open(pair, login=_cookie(await _login(one, user.email)), token=bearer)
    async with httpx.AsyncClient(base_url=one.base_url, headers=as_owner) as http:
        off = await http.patch(f"/api/users/{user.id}", json={"active": False})
        assert off.status_code == 200
    assert await sockets.closed_within("login", "token") < DEADLINE_S
    await _refused(two, bearer)


async def test_a_role_change_reconnects_with_the_new_role(firm: Firm, pair: tuple[ChatdProcess, ChatdProcess]) -> None:
    one, two = pair
    user, bearer = await _person(firm)
    _, as_owner = await _person(firm, Role.OWNER)
    sockets = await _open(pair, token=bearer)
    async with httpx.AsyncClient(base_url=two.base_url, headers=as_owner) as http:
        assert (await http.patch(f"/api/users/{user.id}", json={"role": "manager"})).status_code == 200
    assert await sockets.closed_within("token") < DEADLINE_S
    again = await WsClient.connect(one.ws_url, headers=bearer)
    assert again.hello["user"]["role"] == "manager"
    await again.close()


async def test_token_revocation_closes_that_tokens_sockets(firm: Firm, pair: tuple[ChatdProcess, ChatdProcess]) -> None:
    one, two = pair
    user, revoked = await _person(firm)
    kept = {"Authorization": f"Bearer {await firm.token(user)}"}
    sockets = await _open(pair, revoked=revoked, kept=kept)
    async with httpx.AsyncClient(base_url=one.base_url, headers=revoked) as http:
        me = await http.get("/api/me")
        assert me.status_code == 200
        token_id = await _token_id(firm.services, revoked)
        assert (await http.delete(f"/api/tokens/{token_id}")).status_code == 204
    assert await sockets.closed_within("revoked") < DEADLINE_S
    await sockets.still_open("kept")
    await _refused(two, revoked)
    await sockets.close()


async def test_deactivation_from_the_command_line_reaches_every_process(
    firm: Firm, pair: tuple[ChatdProcess, ChatdProcess]
) -> None:
    one, _ = pair
    user, bearer = await _person(firm, Role.CLIENT)
    sockets = await _open(pair, token=bearer)
    done = chatd_json(one.data_dir, "deactivate-user", "--user", str(user.id), env=one.env)
    assert done["active"] is False
    assert await sockets.closed_within("token") < DEADLINE_S


async def _token_id(services: Services, bearer: dict[str, str]) -> int:
    caller = await services.auth.from_token(bearer["Authorization"].removeprefix("Bearer "))
    assert caller is not None
    return int(caller.credential.removeprefix("token:"))


async def test_without_redis_a_lost_revocation_is_caught_by_the_periodic_check(tmp_path: Path) -> None:
    """The CLI of a one-process install has no bus to the server: the server's own re-check of its
    sessions' credentials (CHATD_REVALIDATE_S) closes the socket."""
    async with own_chatd(tmp_path, {"CHATD_REVALIDATE_S": "1"}) as (server, cast):
        client = await WsClient.connect(server.ws_url, cast.token(cast.client))
        await client.ok("ping")
        chatd_json(tmp_path, "deactivate-user", "--user", str(cast.client.id), env=server.env)
        await asyncio.wait_for(client.closed.wait(), DEADLINE_S)
        assert client.conn.close_code == REVOKED
