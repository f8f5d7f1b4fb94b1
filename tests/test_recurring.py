"""Recurring messages: a cron rule in a time zone posts the message at each occurrence, once; pause,
resume, edit, end date, cancel; bad rules and zones are refused. Time moves with the offset clock."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from chatd.services.context import Services
from protocol.values import Role
from tests.conftest import Cast, Connect, chatd_server, make_cast, open_thread
from tests.support import ChatdProcess, WsClient
from tests.timing import TestClock

PARIS = ZoneInfo("Europe/Paris")
MONDAYS = "0 9 * * mon"


server = chatd_server()


def next_monday_nine(clock: TestClock) -> datetime:
    today = clock.now().astimezone(PARIS)
    day = today.date() + timedelta(days=(0 - today.weekday()) % 7)
    moment = datetime.combine(day, time(9), PARIS)
    return moment if moment > today else moment + timedelta(days=7)


def move_past(clock: TestClock, moment: datetime, seconds: float = 30) -> None:
    clock.advance((moment - clock.now()).total_seconds() + seconds)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def recurring_messages(client: WsClient, thread_id: int) -> list[dict[str, Any]]:
    history = await client.ok("history", thread_id=thread_id)
    return [m for m in history["messages"] if m.get("automatic") == "recurring"]


async def test_each_occurrence_is_posted_once_then_paused_resumed_edited_and_ended(
    cast: Cast, connect: Connect, clock: TestClock
) -> None:
    staff, client = await connect(cast.token(cast.staff)), await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    created = (
        await staff.ok(
            "recurring.create",
            thread_id=thread_id,
            body="Weekly: send your receipts",
            rule=MONDAYS,
            time_zone="Europe/Paris",
        )
    )["recurring"]
    first = next_monday_nine(clock)
    assert (created["state"], at(created["next_at"])) == ("active", first)
    listed = await staff.ok("recurring.list", thread_id=thread_id)
    assert [r["id"] for r in listed["recurring"]] == [created["id"]]

    move_past(clock, first)
    posted = await client.event("message.created", message__automatic="recurring", timeout=10)
    assert posted["data"]["message"]["body"] == "Weekly: send your receipts"
    assert posted["data"]["message"]["author_id"] == cast.staff.id
    assert await client.quiet(0.5, "message.created") == []
    [state] = (await staff.ok("recurring.list", thread_id=thread_id))["recurring"]
    assert (state["sent"], at(state["next_at"])) == (1, first + timedelta(days=7))

    paused = (await staff.ok("recurring.update", recurring_id=created["id"], paused=True))["recurring"]
    assert (paused["state"], paused["next_at"]) == ("paused", None)
    move_past(clock, first + timedelta(days=7))
    assert await client.quiet(0.5, "message.created") == []

    resumed = (await staff.ok("recurring.update", recurring_id=created["id"], paused=False, body="Receipts, please"))[
        "recurring"
    ]
    assert (resumed["state"], at(resumed["next_at"])) == ("active", first + timedelta(days=14))
    # It ends after the next occurrence.
    last_day = (first + timedelta(days=14)).date()
    await staff.ok("recurring.update", recurring_id=created["id"], ends_on=(last_day + timedelta(days=1)).isoformat())
    move_past(clock, first + timedelta(days=14))
    again = await client.event("message.created", message__body="Receipts, please", timeout=10)
    assert again["data"]["message"]["automatic"] == "recurring"
    assert len(await recurring_messages(client, thread_id)) == 2
    done = (await staff.ok("recurring.list", thread_id=thread_id, include_ended=True))["recurring"]
    assert [(r["state"], r["sent"], r["next_at"]) for r in done] == [("ended", 2, None)]
    assert (await staff.ok("recurring.list", thread_id=thread_id))["recurring"] == []
    assert (await staff.call("recurring.update", recurring_id=created["id"], paused=False))["code"] == "conflict"


async def test_the_firm_time_zone_is_the_default_and_http_creates_lists_edits_cancels(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    headers = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        made = await http.post(
            f"/api/threads/{thread_id}/recurring", json={"body": "Monthly statement", "rule": "0 9 1 * *"}
        )
        assert made.status_code == 201, made.text
        recurring = made.json()["recurring"]
        assert recurring["time_zone"] == "UTC"
        assert at(recurring["next_at"]).day == 1
        listed = await http.get("/api/recurring", params={"thread_id": thread_id})
        assert [r["id"] for r in listed.json()["recurring"]] == [recurring["id"]]
        edited = await http.patch(f"/api/recurring/{recurring['id']}", json={"rule": "30 8 * * mon-fri"})
        assert edited.status_code == 200, edited.text
        assert at(edited.json()["recurring"]["next_at"]).strftime("%H:%M") == "08:30"
        cancelled = await http.delete(f"/api/recurring/{recurring['id']}")
        assert cancelled.json()["recurring"]["state"] == "cancelled"
        assert (await http.get("/api/recurring", params={"thread_id": thread_id})).json()["recurring"] == []


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"rule": "61 9 * * *"}, "bad rule"),
        ({"rule": "0 9 * * 1"}, "name the days"),
        ({"rule": "every monday"}, "five fields"),
        ({"rule": MONDAYS, "time_zone": "Europe/Atlantis"}, "does not exist"),
        ({"rule": MONDAYS, "ends_on": "2020-01-01"}, "ends_on"),
    ],
)
async def test_bad_rules_are_refused_and_store_nothing(
    cast: Cast, connect: Connect, fields: dict[str, Any], why: str
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    answer = await staff.call("recurring.create", thread_id=thread_id, body="x", **fields)
    assert answer["code"] == "bad_request", answer
    assert why in answer["message"]
    assert (await staff.ok("recurring.list", thread_id=thread_id, include_ended=True))["recurring"] == []


async def test_clients_and_other_firms_cannot_touch_them(cast: Cast, connect: Connect, services: Services) -> None:
    staff, client = await connect(cast.token(cast.staff)), await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    made = await staff.ok("recurring.create", thread_id=thread_id, body="x", rule=MONDAYS)
    assert (await client.call("recurring.create", thread_id=thread_id, body="x", rule=MONDAYS))["code"] == "forbidden"
    assert (await client.call("recurring.list"))["code"] == "forbidden"
    other = await make_cast(services)
    stranger = await connect(other.token(other.staff))
    recurring_id = made["recurring"]["id"]
    assert (await stranger.call("recurring.cancel", recurring_id=recurring_id))["code"] == "not_found"
    assert (await stranger.call("recurring.update", recurring_id=recurring_id, paused=True))["code"] == "not_found"
    assert (await stranger.call("recurring.create", thread_id=thread_id, body="x", rule=MONDAYS))["code"] == "not_found"
    assert (await stranger.ok("recurring.list"))["recurring"] == []


async def test_an_occurrence_that_fails_is_reported_with_its_reason(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock
) -> None:
    """Like a failed delayed send: a ``recurring.updated`` event with ``state: "failed"`` and the
    reason, live to staff who see the thread and replayed to the author when they come back."""
    staff, author = await connect(cast.token(cast.staff)), await connect(cast.token(cast.staff2))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await staff.ok("threads.act", thread_ids=[thread_id], action={"type": "assign", "user_id": cast.staff2.id})
    created = (await author.ok("recurring.create", thread_id=thread_id, body="Monthly papers", rule="0 9 1 * *"))[
        "recurring"
    ]
    made = await staff.event("recurring.updated", recurring__id=created["id"])
    assert made["data"]["recurring"]["state"] == "active"
    anchor = author.hello["event_id"]
    await author.close()
    owner = await cast.firm.user(Role.OWNER)
    headers = {"Authorization": f"Bearer {await cast.firm.token(owner)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        off = await http.patch(f"/api/users/{cast.staff2.id}", json={"active": False})
        assert off.status_code == 200, off.text
        move_past(clock, at(created["next_at"]))
        failed = await staff.event(
            "recurring.updated", recurring__id=created["id"], recurring__state="failed", timeout=10
        )
        assert failed["data"]["recurring"]["error"] == "the author's account is deactivated"
        assert failed["data"]["recurring"]["next_at"] is None
        assert (await http.patch(f"/api/users/{cast.staff2.id}", json={"active": True})).status_code == 200
    back = await connect(cast.token(cast.staff2))
    await back.ok("resume", after_event_id=anchor)
    replayed = await back.event("recurring.updated", recurring__state="failed", timeout=10)
    assert replayed["data"]["recurring"]["error"] == "the author's account is deactivated"
    listed = await back.ok("recurring.list", thread_id=thread_id, include_ended=True)
    assert [(r["state"], r["error"]) for r in listed["recurring"]] == [
        ("failed", "the author's account is deactivated")
    ]
    assert await recurring_messages(staff, thread_id) == []
