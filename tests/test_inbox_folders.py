"""The staff inbox: folders and their counts, actions on selections, live thread.updated events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import MSGPACK, WsClient


async def _counts(ws: WsClient, **filters: Any) -> dict[str, tuple[int, int]]:
    folders = (await ws.ok("folders", **filters))["folders"]
    return {f["name"]: (f["count"], f["unread"]) for f in folders}


async def _ids(ws: WsClient, folder: str, **filters: Any) -> set[int]:
    return {t["id"] for t in (await ws.ok("threads", folder=folder, limit=100, **filters))["threads"]}


async def test_actions_move_threads_between_folders_live(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2), MSGPACK)
    client = await connect(cast.token(cast.client))
    await staff2.ok("ping")
    a = (await open_thread(staff, cast.client))["thread"]["id"]
    b = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.ok("send", thread_id=a, body="Here are my payslips", client_msg_id=new_id())
    counts = await _counts(staff)
    assert counts["inbox"] == (2, 1)  # both threads; one with an unread client message
    assert counts["unread"] == (1, 1)

    # Archive both in one request: one result each, one live update each for every staff session.
    act = await staff.ok("threads.act", thread_ids=[a, b], action={"type": "archive"})
    assert act["results"] == [{"thread_id": a, "ok": True}, {"thread_id": b, "ok": True}]
    updated = await staff2.event("thread.updated", thread__id=b)
    assert updated["data"]["thread"]["state"] == "archived"
    assert "unread" not in updated["data"]["thread"]
    assert await _ids(staff, "archived") >= {a, b}
    assert not await _ids(staff, "inbox") & {a, b}
    assert (await _counts(staff))["archived"][0] == 2
    # A client never hears of the inbox's state.
    assert [e for e in await client.quiet(0.3) if e["type"] == "thread.updated"] == []
    listed = (await client.ok("threads"))["threads"][0]
    assert "state" not in listed
    assert "assignee_id" not in listed

    # A client who writes into an archived thread brings it back to the Inbox.
    await client.ok("send", thread_id=a, body="One more question", client_msg_id=new_id())
    back = await staff2.event("thread.updated", thread__id=a, thread__state="inbox")
    assert back["data"]["thread"]["id"] == a
    assert a in await _ids(staff, "inbox")

    # Trash, restore, trash again, delete forever: only from the Trash.
    await staff.ok("threads.act", thread_ids=[b], action={"type": "unarchive"})
    result = await staff.ok("threads.act", thread_ids=[b, a], action={"type": "delete_forever"})
    assert [r["ok"] for r in result["results"]] == [False, False]
    assert result["results"][0]["error"]["code"] == "conflict"
    await staff.ok("threads.act", thread_ids=[b], action={"type": "trash"})
    assert b in await _ids(staff, "trash")
    await staff.ok("threads.act", thread_ids=[b], action={"type": "restore"})
    assert b in await _ids(staff, "inbox")
    await staff.ok("threads.act", thread_ids=[b], action={"type": "trash"})
    gone = await staff.ok("threads.act", thread_ids=[b], action={"type": "delete_forever"})
    assert gone["results"] == [{"thread_id": b, "ok": True}]
    await staff2.event("thread.deleted", thread_id=b)
    await client.event("thread.deleted", thread_id=b)
    assert (await client.call("history", thread_id=b))["code"] == "not_found"
    assert (await staff.call("thread.get", thread_id=b))["code"] == "not_found"

    # Spam, and back.
    await staff.ok("threads.act", thread_ids=[a], action={"type": "spam"})
    assert a in await _ids(staff, "spam")
    assert (await _counts(staff))["unread"][0] == 0  # spam is not counted as unread
    await staff.ok("threads.act", thread_ids=[a], action={"type": "not_spam"})
    assert a in await _ids(staff, "inbox")


async def test_assign_urgent_labels_read_unread_and_snooze(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    client = await connect(cast.token(cast.client))
    thread = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.ok("send", thread_id=thread, body="Question about my rent", client_msg_id=new_id())

    await staff.ok("threads.act", thread_ids=[thread], action={"type": "assign", "user_id": cast.staff2.id})
    assigned = await staff2.event("thread.updated", thread__id=thread, thread__assignee_id=cast.staff2.id)
    assert assigned["data"]["thread"]["assignee_id"] == cast.staff2.id
    assert thread in await _ids(staff2, "assigned")
    assert thread not in await _ids(staff, "assigned")

    await staff.ok("threads.act", thread_ids=[thread], action={"type": "urgent", "on": True})
    assert thread in await _ids(staff2, "urgent")
    await staff.ok("threads.act", thread_ids=[thread], action={"type": "labels", "add": ["rent", "2026"]})
    assert thread in await _ids(staff, "all", label="rent")
    await staff.ok("threads.act", thread_ids=[thread], action={"type": "labels", "remove": ["rent"]})
    assert thread not in await _ids(staff, "all", label="rent")
    assert (await staff.ok("thread.get", thread_id=thread))["thread"]["labels"] == ["2026"]

    # Read and unread are the caller's own.
    await staff.ok("threads.act", thread_ids=[thread], action={"type": "read"})
    assert thread not in await _ids(staff, "unread")
    assert thread in await _ids(staff2, "unread")
    await staff.ok("threads.act", thread_ids=[thread], action={"type": "unread"})
    mine = await staff.event("thread.unread", thread_id=thread)
    assert mine["data"]["unread"] == 1
    assert thread in await _ids(staff, "unread")

    # Snoozed until the client replies: out of the Inbox, into Follow-up; the client's reply wakes it.
    await staff.ok("threads.act", thread_ids=[thread], action={"type": "snooze"})
    assert thread in await _ids(staff, "follow_up")
    assert thread not in await _ids(staff, "inbox")
    await client.ok("send", thread_id=thread, body="Any news?", client_msg_id=new_id())
    await staff2.event("thread.updated", thread__id=thread, thread__snoozed=False)
    assert thread in await _ids(staff, "inbox")


async def test_bad_selections_and_actions(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    thread = (await open_thread(staff, cast.client))["thread"]["id"]
    # Unknown ids are reported per thread; the rest is applied.
    result = await staff.ok("threads.act", thread_ids=[999_999, thread], action={"type": "urgent", "on": True})
    assert result["results"][0] == {
        "thread_id": 999_999,
        "ok": False,
        "error": {"code": "not_found", "message": "thread not found"},
    }
    assert result["results"][1]["ok"] is True
    before = (await staff.ok("thread.get", thread_id=thread))["thread"]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    bad = [
        ({"type": "follow_up", "at": past}, "bad_request"),
        ({"type": "follow_up", "at": "2030-01-01T09:00:00"}, "bad_request"),  # no time zone
        ({"type": "assign", "user_id": cast.client.id}, "bad_request"),
        ({"type": "assign", "user_id": 987_654}, "not_found"),
        ({"type": "explode"}, "bad_request"),
        ({"type": "labels", "add": ["x" * 65]}, "bad_request"),
    ]
    for action, code in bad:
        error = await staff.call("threads.act", thread_ids=[thread], action=action)
        assert error["code"] == code, (action, error)
    assert (await staff.ok("thread.get", thread_id=thread))["thread"] == before
    # Clients have no inbox.
    assert (await client.call("folders"))["code"] == "forbidden"
    assert (await client.call("threads.act", thread_ids=[thread], action={"type": "archive"}))["code"] == "forbidden"
    assert (await client.call("threads", folder="inbox"))["code"] == "bad_request"


async def test_source_filter(cast: Cast, connect: Connect, server: Any) -> None:
    """Threads opened with an API token come from the API; the filter combines with folders."""
    staff = await connect(cast.token(cast.staff))
    thread = (await open_thread(staff, cast.client))["thread"]["id"]
    assert (await staff.ok("thread.get", thread_id=thread))["thread"]["source"] == "api"
    assert thread in await _ids(staff, "inbox", source="api")
    assert thread not in await _ids(staff, "inbox", source="portal")
    assert (await _counts(staff, source="email"))["inbox"] == (0, 0)
    assert (await _counts(staff, source="api"))["inbox"][0] >= 1
