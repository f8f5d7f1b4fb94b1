"""Owners manage the firm's people over HTTP; everyone changes their own password; operators
deactivate from the command line. Nobody else learns anything from the team API."""

from __future__ import annotations

import httpx
import pytest
import websockets

from chatd.services.context import Services
from protocol.values import Role
from storage import directory as store
from tests.conftest import make_cast
from tests.support import ChatdProcess, WsClient, new_firm
from tests.test_cli import chatd_json

PASSWORD = "correct horse battery"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    http.cookies.clear()
    return await http.post("/api/login", json={"email": email, "password": password})


async def _with_cookie(server: ChatdProcess, cookie: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url, cookies={"chatd_session": cookie}) as http:
        return await http.get("/api/me")


async def test_an_owner_adds_changes_deactivates_and_reactivates_people(
    services: Services, server: ChatdProcess
) -> None:
    firm = await new_firm(services, "Team firm")
    owner = await firm.user(Role.OWNER)
    as_owner = _bearer(await firm.token(owner))
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        made = {}
        for role in ("manager", "staff", "client"):
            answer = await http.post(
                "/api/users",
                headers=as_owner,
                json={"email": f"New.{role}@Team.test", "name": f"New {role}", "role": role, "password": PASSWORD},
            )
            assert answer.status_code == 201, answer.text
            made[role] = answer.json()["user"]
            assert made[role]["email"] == f"new.{role}@team.test"
            assert made[role]["active"] is True
        assert made["client"]["client_account_id"] is not None
        async with services.db.read() as conn:
            stored = await store.find_account_by_email(conn, "new.staff@team.test")
        assert stored is not None
        assert stored.password_hash is not None
        assert stored.password_hash.startswith("$argon2id$")

        listed = (await http.get("/api/users", headers=as_owner)).json()["users"]
        assert {u["id"] for u in listed} == {owner.id} | {u["id"] for u in made.values()}

        for refused in (
            {"email": "bot@team.test", "name": "B", "role": "bot", "password": PASSWORD},
            {"email": "o2@team.test", "name": "O", "role": "owner", "password": PASSWORD},
            {"email": "short@team.test", "name": "S", "role": "staff", "password": "short"},
            {"email": "not-an-address", "name": "S", "role": "staff", "password": PASSWORD},
        ):
            answer = await http.post("/api/users", headers=as_owner, json=refused)
            assert answer.status_code == 400, refused
        duplicate = {"email": "new.staff@team.test", "name": "Again", "role": "staff", "password": PASSWORD}
        assert (await http.post("/api/users", headers=as_owner, json=duplicate)).status_code == 409

        staff_id = made["staff"]["id"]
        promoted = await http.patch(f"/api/users/{staff_id}", headers=as_owner, json={"role": "manager"})
        assert promoted.json()["user"]["role"] == "manager"
        client_id = made["client"]["id"]
        assert (
            await http.patch(f"/api/users/{client_id}", headers=as_owner, json={"role": "staff"})
        ).status_code == 400
        for self_harm in ({"role": "staff"}, {"active": False}):
            assert (await http.patch(f"/api/users/{owner.id}", headers=as_owner, json=self_harm)).status_code == 400

        # Deactivated: the password, the browser login and the token all stop working.
        assert (await _login(http, "new.staff@team.test", PASSWORD)).status_code == 200
        cookie = http.cookies["chatd_session"]
        token = (await services.directory.create_token(staff_id))[1]
        assert (await http.get("/api/me", headers=_bearer(token))).status_code == 200
        off = await http.patch(f"/api/users/{staff_id}", headers=as_owner, json={"active": False})
        assert off.json()["user"]["active"] is False
        http.cookies.clear()
        assert (await http.get("/api/me", headers=_bearer(token))).status_code == 401
        assert (await _with_cookie(server, cookie)).status_code == 401
        assert (await _login(http, "new.staff@team.test", PASSWORD)).status_code == 401
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(server.ws_url, additional_headers=_bearer(token))

        # Reactivated: the token and the password work again, the old browser login does not.
        on = await http.patch(f"/api/users/{staff_id}", headers=as_owner, json={"active": True})
        assert on.json()["user"]["active"] is True
        assert (await http.get("/api/me", headers=_bearer(token))).status_code == 200
        assert (await _with_cookie(server, cookie)).status_code == 401
        assert (await _login(http, "new.staff@team.test", PASSWORD)).status_code == 200


async def test_nobody_but_the_firms_owners_learns_anything(services: Services, server: ChatdProcess) -> None:
    cast = await make_cast(services)
    firm = cast.firm
    owner = await firm.user(Role.OWNER)
    target = cast.staff.id
    bot = await firm.user(Role.BOT)
    outsiders = {
        "manager": await firm.token(await firm.user(Role.MANAGER)),
        "staff": cast.token(cast.staff2),
        "client": cast.token(cast.client),
        "bot": await firm.token(bot),
    }
    other = await new_firm(services, "Other team firm")
    outsiders["other_owner"] = await other.token(await other.user(Role.OWNER))
    missing = 10**9
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        as_owner = _bearer(await firm.token(owner))
        # The firm's bot is not a person of the team (bots have /api/bots): not found to its owner too.
        assert (await http.get(f"/api/users/{bot.id}", headers=as_owner)).status_code == 404
        for who, token in outsiders.items():
            headers = _bearer(token)
            for user_id in (target, owner.id):
                for method, extra in (("GET", {}), ("PATCH", {"json": {"active": False}})):
                    seen = await http.request(method, f"/api/users/{user_id}", headers=headers, **extra)
                    absent = await http.request(method, f"/api/users/{missing}", headers=headers, **extra)
                    assert seen.status_code == absent.status_code == 404, (who, method)
                    assert seen.content == absent.content.replace(str(missing).encode(), str(user_id).encode())
            listed = await http.get("/api/users", headers=headers)
            if who == "other_owner":
                assert target not in {u["id"] for u in listed.json()["users"]}
                continue
            created = await http.post(
                "/api/users",
                headers=headers,
                json={"email": f"x-{who}@team.test", "name": "X", "role": "staff", "password": PASSWORD},
            )
            assert listed.status_code == created.status_code == 404, who
            assert listed.content == created.content
        # Nothing changed.
        target_now = await http.get(f"/api/users/{target}", headers=as_owner)
        assert target_now.json()["user"]["active"] is True
        assert (await http.get("/api/users", headers={})).status_code == 401


async def test_changing_ones_password_needs_the_current_one_and_ends_other_logins(
    services: Services, server: ChatdProcess
) -> None:
    firm = await new_firm(services, "Password firm")
    user = await firm.user(Role.CLIENT, password=PASSWORD)
    async with (
        httpx.AsyncClient(base_url=server.base_url) as other_browser,
        httpx.AsyncClient(base_url=server.base_url) as http,
    ):
        assert (await _login(other_browser, user.email, PASSWORD)).status_code == 200
        assert (await _login(http, user.email, PASSWORD)).status_code == 200
        origin = {"Origin": server.base_url}
        wrong = await http.post(
            "/api/me/password", headers=origin, json={"current_password": "not it at all", "new_password": "x" * 12}
        )
        assert wrong.status_code == 403
        short = await http.post(
            "/api/me/password", headers=origin, json={"current_password": PASSWORD, "new_password": "short"}
        )
        assert short.status_code == 400
        old_cookie = http.cookies["chatd_session"]
        changed = await http.post(
            "/api/me/password", headers=origin, json={"current_password": PASSWORD, "new_password": "a new passphrase"}
        )
        assert changed.status_code == 204
        assert http.cookies["chatd_session"] != old_cookie
        assert (await http.get("/api/me")).status_code == 200
        assert (await other_browser.get("/api/me")).status_code == 401
        assert (await _login(http, user.email, PASSWORD)).status_code == 401
        assert (await _login(http, user.email, "a new passphrase")).status_code == 200


async def test_an_operator_deactivates_from_the_command_line(services: Services, server: ChatdProcess) -> None:
    firm = await new_firm(services, "CLI firm")
    staff = await firm.user(Role.STAFF)
    token = await firm.token(staff)
    client = await WsClient.connect(server.ws_url, token)
    await client.close()
    done = chatd_json(server.data_dir, "deactivate-user", "--user", str(staff.id))
    assert done == {"id": staff.id, "active": False}
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(server.ws_url, additional_headers=_bearer(token))
    assert chatd_json(server.data_dir, "deactivate-user", "--user", str(staff.id), "--reactivate")["active"] is True
    again = await WsClient.connect(server.ws_url, token)
    await again.close()
