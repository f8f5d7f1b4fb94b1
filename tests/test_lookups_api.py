"""GET /api/people, /api/messages and /api/threads/{id}/readers: what the web client looks up, and
what each role may see through them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import ChatdProcess


def bearer(cast: Cast, user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {cast.token(user)}"}


async def test_staff_see_the_firm_and_clients_see_their_side(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    await open_thread(staff, cast.client)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        seen_by_staff = (await http.get("/api/people", headers=bearer(cast, cast.staff))).json()
        seen_by_client = (await http.get("/api/people", headers=bearer(cast, cast.client))).json()
    everyone = {cast.staff.id, cast.staff2.id, cast.client.id, cast.other_client.id}
    assert {u["id"] for u in seen_by_staff["users"]} == everyone
    assert {a["id"] for a in seen_by_staff["client_accounts"]} == {
        cast.client.client_account_id,
        cast.other_client.client_account_id,
    }
    # The client: themself and the staff member who wrote to them; not the other client nor idle staff.
    assert {u["id"] for u in seen_by_client["users"]} == {cast.staff.id, cast.client.id}
    assert [a["id"] for a in seen_by_client["client_accounts"]] == [cast.client.client_account_id]
    assert "email" not in seen_by_client["users"][0]


async def test_previews_leave_out_what_the_caller_may_not_see(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    created = await open_thread(staff, cast.client, "Your file is ready.")
    thread_id = created["thread"]["id"]
    note = (await staff.ok("send", thread_id=thread_id, body="internal only", client_msg_id=new_id(), kind="note"))[
        "message"
    ]
    first = created["message"]["id"]
    ids = f"{first},{note['id']}"
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for_staff = (await http.get(f"/api/messages?ids={ids}", headers=bearer(cast, cast.staff))).json()
        for_client = (await http.get(f"/api/messages?ids={ids}", headers=bearer(cast, cast.client))).json()
        for_other = (await http.get(f"/api/messages?ids={ids}", headers=bearer(cast, cast.other_client))).json()
        bad = await http.get("/api/messages?ids=1,x", headers=bearer(cast, cast.staff))
    assert [m["id"] for m in for_staff["messages"]] == [first, note["id"]]
    assert for_staff["messages"][0]["client_msg_id"] == created["message"]["client_msg_id"]  # the author's own
    assert [m["id"] for m in for_client["messages"]] == [first]
    assert "client_msg_id" not in for_client["messages"][0]
    assert for_other["messages"] == []
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_request"


async def test_readers_show_markers_with_times_and_hide_notes_from_clients(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    created = await open_thread(staff, cast.client)
    thread_id, first = created["thread"]["id"], created["message"]["id"]
    await client.ok("read", thread_id=thread_id, message_id=first)
    await staff.ok("send", thread_id=thread_id, body="note", client_msg_id=new_id(), kind="note")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for_staff = (await http.get(f"/api/threads/{thread_id}/readers", headers=bearer(cast, cast.staff))).json()
        for_client = (await http.get(f"/api/threads/{thread_id}/readers", headers=bearer(cast, cast.client))).json()
        hidden = await http.get(f"/api/threads/{thread_id}/readers", headers=bearer(cast, cast.other_client))
    staff_view = {r["user_id"]: r for r in for_staff["readers"]}
    client_view = {r["user_id"]: r for r in for_client["readers"]}
    assert staff_view[cast.client.id]["message_id"] == first
    assert staff_view[cast.client.id]["read_at"].endswith("Z")
    assert staff_view[cast.staff.id]["message_id"] > first  # the note moved the author's marker
    assert client_view[cast.staff.id]["message_id"] == first  # clients see it at the newest message they may see
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
