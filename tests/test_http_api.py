"""The HTTP API: login with a signed HttpOnly cookie, threads and messages, same events as the socket."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from protocol.values import Role
from tests.conftest import Cast, Connect, new_id
from tests.support import ChatdProcess, Firm, new_firm


@contextlib.asynccontextmanager
async def _logged_in(server: ChatdProcess, firm: Firm, role: Role) -> AsyncIterator[httpx.AsyncClient]:
    user = await firm.user(role, password="s3cret-enough")
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Origin": server.base_url}) as http:
        answer = await http.post("/api/login", json={"email": user.email.upper(), "password": "s3cret-enough"})
        assert answer.status_code == 200, answer.text
        yield http


async def test_login_sets_a_signed_httponly_lax_cookie(server: ChatdProcess, services: object) -> None:
    firm = await new_firm(services)  # type: ignore[arg-type]
    user = await firm.user(Role.STAFF, password="s3cret-enough")
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Origin": server.base_url}) as http:
        answer = await http.post("/api/login", json={"email": user.email, "password": "s3cret-enough"})
        assert answer.status_code == 200
        assert answer.json()["user"]["id"] == user.id
        set_cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in set_cookie
        assert "samesite=lax" in set_cookie
        assert "path=/" in set_cookie
        assert (await http.get("/api/me")).json()["user"]["email"] == user.email
        assert (await http.post("/api/logout")).status_code == 204
        assert (await http.get("/api/me")).status_code == 401


async def test_wrong_password_and_unknown_user_get_the_same_answer(server: ChatdProcess, services: object) -> None:
    firm = await new_firm(services)  # type: ignore[arg-type]
    user = await firm.user(Role.CLIENT, password="s3cret-enough")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        wrong = await http.post("/api/login", json={"email": user.email, "password": "guess-guess"})
        unknown = await http.post("/api/login", json={"email": "nobody@example.test", "password": "guess-guess"})
        assert wrong.status_code == unknown.status_code == 401
        assert (
            wrong.json() == unknown.json() == {"error": {"code": "unauthorized", "message": "wrong email or password"}}
        )
        assert "set-cookie" not in wrong.headers
        malformed = await http.post("/api/login", content=b"{nope")
        assert malformed.status_code == 400
        assert malformed.json()["error"]["code"] == "bad_request"


async def test_a_tampered_cookie_is_rejected(server: ChatdProcess, services: object) -> None:
    firm = await new_firm(services)  # type: ignore[arg-type]
    async with _logged_in(server, firm, Role.STAFF) as http:
        cookie = http.cookies["chatd_session"]
        http.cookies.clear()
        http.cookies.set("chatd_session", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
        assert (await http.get("/api/me")).status_code == 401


async def test_threads_and_messages_over_http_reach_websocket_sessions(
    cast: Cast, connect: Connect, server: ChatdProcess
) -> None:
    auth = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
    watcher = await connect(cast.token(cast.client))
    await watcher.ok("ping")
    async with httpx.AsyncClient(base_url=server.base_url, headers=auth) as http:
        created = await http.post(
            "/api/threads",
            json={
                "subject": "Deposit",
                "body": "Your deposit was received.",
                "client_msg_id": new_id(),
                "client_account_id": cast.client.client_account_id,
            },
        )
        assert created.status_code == 201, created.text
        thread_id = created.json()["thread"]["id"]
        await watcher.event("thread.created", thread__id=thread_id)
        key = new_id()
        sent = await http.post(
            f"/api/threads/{thread_id}/messages", json={"body": "Receipt attached.", "client_msg_id": key}
        )
        assert sent.status_code == 201
        again = await http.post(
            f"/api/threads/{thread_id}/messages", json={"body": "Receipt attached.", "client_msg_id": key}
        )
        assert again.json() == sent.json()
        message_id = sent.json()["message"]["id"]
        await watcher.event("message.created", message__id=message_id)
        listed = (await http.get("/api/threads")).json()
        assert any(t["id"] == thread_id for t in listed["threads"])
        page = (await http.get(f"/api/threads/{thread_id}/messages", params={"limit": 1})).json()
        assert page["has_more"] is True
        assert [m["id"] for m in page["messages"]] == [message_id]
        earlier = (await http.get(f"/api/threads/{thread_id}/messages", params={"before": message_id})).json()
        assert earlier["has_more"] is False
        assert len(earlier["messages"]) == 1
        edited = await http.patch(f"/api/messages/{message_id}", json={"body": "Receipt attached (PDF)."})
        assert edited.json()["message"]["edited_at"]
        await watcher.event("message.updated", message__id=message_id)
        assert (await http.delete(f"/api/messages/{message_id}")).status_code == 200
        await watcher.event("message.deleted", message__id=message_id)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {cast.token(cast.client)}"}
    ) as http:
        marked = await http.post(f"/api/threads/{thread_id}/read", json={"message_id": message_id})
        assert marked.status_code == 204


async def test_http_bad_input_is_a_json_4xx_and_changes_nothing(cast: Cast, server: ChatdProcess) -> None:
    staff = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
    other = {"Authorization": f"Bearer {cast.token(cast.other_client)}"}
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        created = await http.post(
            "/api/threads",
            headers=staff,
            json={
                "subject": "Keys",
                "body": "Keys are at the desk.",
                "client_msg_id": new_id(),
                "client_account_id": cast.client.client_account_id,
            },
        )
        thread_id = created.json()["thread"]["id"]
        cases = [
            (await http.get("/api/threads"), 401, "unauthorized"),
            (
                await http.post(
                    f"/api/threads/{thread_id}/messages",
                    headers=staff,
                    json={"body": "x" * 10_001, "client_msg_id": new_id()},
                ),
                413,
                "too_large",
            ),
            (
                await http.post(f"/api/threads/{thread_id}/messages", headers=staff, json={"body": "hi"}),
                400,
                "bad_request",
            ),
            (
                await http.post(
                    f"/api/threads/{thread_id}/messages",
                    headers=staff,
                    json={"body": "hi", "client_msg_id": new_id(), "color": "red"},
                ),
                400,
                "bad_request",
            ),
            (
                await http.get(f"/api/threads/{thread_id}/messages", headers=staff, params={"limit": "lots"}),
                400,
                "bad_request",
            ),
            (await http.get("/api/threads", headers=staff, params={"cursor": "'; drop table"}), 400, "bad_request"),
            (await http.get(f"/api/threads/{thread_id}/messages", headers=other), 404, "not_found"),
            (await http.get("/api/threads/999999/messages", headers=other), 404, "not_found"),
            (
                await http.post(
                    f"/api/threads/{thread_id}/messages", headers=other, json={"body": "hi", "client_msg_id": new_id()}
                ),
                404,
                "not_found",
            ),
            (await http.get("/api/nothing-here"), 404, "not_found"),
        ]
        for answer, status, code in cases:
            assert answer.status_code == status, (answer.request.url, answer.text)
            assert answer.json()["error"]["code"] == code
        # The two not_found answers for a hidden and a missing thread differ only in the id they name.
        hidden, missing = cases[6][0].json(), cases[7][0].json()
        assert hidden["error"]["message"].replace(str(thread_id), "N") == missing["error"]["message"].replace(
            "999999", "N"
        )
        messages = (await http.get(f"/api/threads/{thread_id}/messages", headers=staff)).json()["messages"]
        assert [m["body"] for m in messages] == ["Keys are at the desk."]


async def test_cookie_writes_need_an_allowed_origin(server: ChatdProcess, services: object) -> None:
    firm = await new_firm(services)  # type: ignore[arg-type]
    async with _logged_in(server, firm, Role.STAFF) as http:
        http.headers["Origin"] = "https://evil.example.test"
        answer = await http.post("/api/threads", json={"subject": "x", "body": "y", "client_msg_id": new_id()})
        assert answer.status_code == 401
        assert (await http.get("/api/threads")).status_code == 200  # reads are not cross-site writes


async def test_owners_make_and_revoke_bot_tokens(server: ChatdProcess, services: object) -> None:
    firm = await new_firm(services)  # type: ignore[arg-type]
    owner = await firm.user(Role.OWNER)
    bot = await firm.user(Role.BOT)
    staff = await firm.user(Role.STAFF)
    owner_auth = {"Authorization": f"Bearer {await firm.token(owner)}"}
    staff_auth = {"Authorization": f"Bearer {await firm.token(staff)}"}
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        made = await http.post("/api/tokens", headers=owner_auth, json={"user_id": bot.id, "label": "faq bot"})
        assert made.status_code == 201
        token = made.json()["token"]
        assert (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).json()["user"]["role"] == "bot"
        # Staff may not mint tokens for the bot, nor for the owner.
        assert (await http.post("/api/tokens", headers=staff_auth, json={"user_id": bot.id})).status_code == 404
        assert (await http.post("/api/tokens", headers=owner_auth, json={"user_id": staff.id})).status_code == 404
        assert (await http.delete(f"/api/tokens/{made.json()['id']}", headers=staff_auth)).status_code == 404
        assert (await http.delete(f"/api/tokens/{made.json()['id']}", headers=owner_auth)).status_code == 204
        assert (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
