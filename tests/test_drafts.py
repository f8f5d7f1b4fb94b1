"""Drafts: unsent text saved on one device is shown on another; only its author sees it."""

from __future__ import annotations

import httpx

from tests.conftest import Cast, Connect, open_thread
from tests.support import ChatdProcess


async def test_a_draft_follows_its_author_to_another_device(server: ChatdProcess, cast: Cast, connect: Connect) -> None:
    laptop = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(laptop, cast.client))["thread"]["id"]
    await laptop.ok("draft.save", thread_id=thread_id, body="Dear client, about your **VAT**")
    phone = await connect(cast.token(cast.staff))
    drafts = (await phone.ok("draft.list", thread_id=thread_id))["drafts"]
    assert [(d["thread_id"], d["body"]) for d in drafts] == [(thread_id, "Dear client, about your **VAT**")]
    headers = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        saved = await http.put(f"/api/threads/{thread_id}/draft", json={"body": "Dear client, v2"})
        assert saved.status_code == 204
        listed = (await http.get("/api/drafts")).json()["drafts"]
        assert listed[0]["body"] == "Dear client, v2"
    # Nobody else sees it; a thread you cannot see takes no draft.
    colleague = await connect(cast.token(cast.staff2))
    assert (await colleague.ok("draft.list"))["drafts"] == []
    other = await connect(cast.token(cast.other_client))
    assert (await other.call("draft.save", thread_id=thread_id, body="x"))["code"] == "not_found"
    # Sending clears it: the composer saves an empty body.
    await phone.ok("draft.save", thread_id=thread_id, body="")
    assert (await laptop.ok("draft.list", thread_id=thread_id))["drafts"] == []
    too_long = await laptop.call("draft.save", thread_id=thread_id, body="x" * 10_001)
    assert too_long["code"] == "too_large"
