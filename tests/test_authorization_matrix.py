"""Who sees what, from one policy table: every role, every kind of object, every read path
(live events, history, resume, thread list, search, HTTP). Anything not in the table is hidden."""

from __future__ import annotations

import httpx
import pytest

from chatd.services.context import Services
from protocol.values import Role
from tests.conftest import Connect, make_cast, new_firm, new_id
from tests.support import ChatdProcess, WsClient

OBJECTS = ("plain", "note", "private", "remark", "thread_b", "other_firm")
# The policy: what each role sees of the objects above (thread_a holds plain, note, private, remark).
POLICY: dict[str, set[str]] = {
    "owner": {"plain", "note", "remark", "thread_b"},
    "manager": {"plain", "note", "remark", "thread_b"},
    "staff": {"plain", "note", "thread_b"},
    "private_recipient": {"plain", "note", "private", "thread_b"},
    "client": {"plain", "remark"},
    "other_client": {"thread_b"},
    "bot": {"plain", "note"},
    "other_firm_staff": {"other_firm"},
    "anonymous": set(),
}


async def _world(services: Services, connect: Connect) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """Tokens per role, message ids per object, thread ids per object."""
    cast = await make_cast(services)
    firm = cast.firm
    users = {
        "owner": await firm.user(Role.OWNER),
        "manager": await firm.user(Role.MANAGER),
        "staff": await firm.user(Role.STAFF),
        "private_recipient": cast.staff2,
        "client": cast.client,
        "other_client": cast.other_client,
        "bot": await firm.user(Role.BOT),
    }
    tokens = {role: await firm.token(user) for role, user in users.items()}
    other = await new_firm(services, "Other firm")
    other_staff, other_client = await other.user(Role.STAFF), await other.user(Role.CLIENT)
    tokens["other_firm_staff"] = await other.token(other_staff)
    tokens["anonymous"] = "chatd_not_a_token"

    author = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    messages: dict[str, int] = {}
    a = await author.ok(
        "thread.create",
        subject="Matrix A",
        body="zebraplain",
        client_msg_id=new_id(),
        client_account_id=cast.client.client_account_id,
        participants=[users["bot"].id],
    )
    thread_a = a["thread"]["id"]
    messages["plain"] = a["message"]["id"]
    note = await author.ok("send", thread_id=thread_a, body="zebranote", client_msg_id=new_id(), kind="note")
    messages["note"] = note["message"]["id"]
    private = await author.ok(
        "send", thread_id=thread_a, body="zebraprivate", client_msg_id=new_id(), private_to=cast.staff2.id
    )
    messages["private"] = private["message"]["id"]
    remark = await client.ok("send", thread_id=thread_a, body="zebraremark", client_msg_id=new_id(), kind="remark")
    messages["remark"] = remark["message"]["id"]
    b = await author.ok(
        "thread.create",
        subject="Matrix B",
        body="zebrathreadb",
        client_msg_id=new_id(),
        client_account_id=cast.other_client.client_account_id,
    )
    messages["thread_b"] = b["message"]["id"]
    other_ws = await connect(await other.token(other_staff))
    o = await other_ws.ok(
        "thread.create",
        subject="Matrix other",
        body="zebraotherfirm",
        client_msg_id=new_id(),
        client_account_id=other_client.client_account_id,
    )
    messages["other_firm"] = o["message"]["id"]
    threads = {"plain": thread_a, "note": thread_a, "private": thread_a, "remark": thread_a}
    threads |= {"thread_b": b["thread"]["id"], "other_firm": o["thread"]["id"]}
    return tokens, messages, threads


def _seen(found_ids: set[int], messages: dict[str, int]) -> set[str]:
    return {name for name, mid in messages.items() if mid in found_ids}


@pytest.mark.parametrize("role", sorted(POLICY))
async def test_each_role_sees_exactly_what_the_policy_allows(
    role: str, services: Services, connect: Connect, server: ChatdProcess
) -> None:
    if role == "anonymous":
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            denied = await http.get("/api/threads", headers={"Authorization": "Bearer chatd_not_a_token"})
        assert denied.status_code == 401
        return
    tokens, messages, threads = await _world(services, connect)
    viewer = await connect(tokens[role])
    expected = POLICY[role]

    # Live events and resume.
    back = await connect(tokens[role])
    await back.ok("resume", after_event_id=0)
    replayed = {e["data"]["message"]["id"] for e in back.events if e["type"] == "message.created"}
    assert _seen(replayed, messages) == expected

    # The thread list and history, over WebSocket and HTTP.
    listed = {t["id"] for t in (await viewer.ok("threads", limit=100))["threads"]}
    in_history: set[int] = set()
    for thread_id in sorted(set(threads.values()) & listed):
        in_history |= {m["id"] for m in (await viewer.ok("history", thread_id=thread_id))["messages"]}
    assert _seen(in_history, messages) == expected
    for name, thread_id in threads.items():
        visible_thread = any(threads[n] == thread_id for n in expected)
        answer = await viewer.call("history", thread_id=thread_id)
        assert (answer["op"] == "ok") == visible_thread, (role, name)
        if not visible_thread:
            assert answer["code"] == "not_found"
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        over_http: set[int] = set()
        for thread_id in set(threads.values()):
            answer = await http.get(f"/api/threads/{thread_id}/messages", headers=headers)
            if answer.status_code == 200:
                over_http |= {m["id"] for m in answer.json()["messages"]}
            else:
                assert answer.status_code == 404
                assert answer.json()["error"]["code"] == "not_found"
    assert _seen(over_http, messages) == expected

    # Search.
    found = {r["message"]["id"] for r in (await viewer.ok("search", q="zebra*", limit=100))["results"]}
    words = {name: f"zebra{name.replace('_', '')}" for name in messages}
    by_word: set[int] = set()
    for word in words.values():
        by_word |= {r["message"]["id"] for r in (await viewer.ok("search", q=word, limit=100))["results"]}
    assert _seen(by_word, messages) == expected
    assert _seen(found, messages) <= expected


async def test_live_events_follow_the_policy(services: Services, connect: Connect) -> None:
    """Everyone connected first; then the world is made: each receives exactly its share, live."""
    cast = await make_cast(services)
    firm = cast.firm
    manager, staff3 = await firm.user(Role.MANAGER), await firm.user(Role.STAFF)
    watchers: dict[str, WsClient] = {
        "manager": await connect(await firm.token(manager)),
        "staff": await connect(await firm.token(staff3)),
        "private_recipient": await connect(cast.token(cast.staff2)),
        "client": await connect(cast.token(cast.client)),
        "other_client": await connect(cast.token(cast.other_client)),
    }
    for ws in watchers.values():
        await ws.ok("ping")
    author = await connect(cast.token(cast.staff))
    client = watchers["client"]
    a = await author.ok(
        "thread.create",
        subject="Live",
        body="hello",
        client_msg_id=new_id(),
        client_account_id=cast.client.client_account_id,
    )
    ids = {"plain": a["message"]["id"]}
    thread = a["thread"]["id"]
    ids["note"] = (await author.ok("send", thread_id=thread, body="n", client_msg_id=new_id(), kind="note"))["message"][
        "id"
    ]
    ids["private"] = (
        await author.ok("send", thread_id=thread, body="p", client_msg_id=new_id(), private_to=cast.staff2.id)
    )["message"]["id"]
    ids["remark"] = (await client.ok("send", thread_id=thread, body="r", client_msg_id=new_id(), kind="remark"))[
        "message"
    ]["id"]
    last = await author.ok("send", thread_id=thread, body="end", client_msg_id=new_id())
    for role, ws in watchers.items():
        if role != "other_client":
            await ws.event("message.created", message__id=last["message"]["id"])
        else:
            await ws.quiet(0.3)
        got = {e["data"]["message"]["id"] for e in ws.events if e["type"] == "message.created"}
        expected = POLICY[role] - {"thread_b", "other_firm"}
        assert _seen(got, ids) == expected, role
